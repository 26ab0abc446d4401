package postgres

import "github.com/tollgate-voip/tollgate/internal/pgschema"

// ComplianceSteps is how many schema steps the compliance tables have.
var ComplianceSteps = len(complianceMigrations)

// UserSteps is how many schema steps the console tables have.
var UserSteps = len(userMigrations)

// ReputationSteps is how many schema steps the reputation tables have.
var ReputationSteps = len(reputationMigrations)

// ReputationSchemaAt is the reputation schema as a tollgate with its
// first n steps had it.
func ReputationSchemaAt(n int) pgschema.Schema {
	s := reputationSchema
	s.Steps = reputationMigrations[:n]
	return s
}

// VoiceSteps is how many schema steps the voice tables have.
var VoiceSteps = len(voiceMigrations)

// ActionSteps is how many schema steps the action table has.
var ActionSteps = len(actionsSchema.Steps)
