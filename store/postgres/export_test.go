package postgres

// ComplianceSteps is how many schema steps the compliance tables have.
var ComplianceSteps = len(complianceMigrations)

// UserSteps is how many schema steps the console tables have.
var UserSteps = len(userMigrations)
