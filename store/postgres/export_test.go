package postgres

// ComplianceSteps is how many schema steps the compliance tables have.
var ComplianceSteps = len(complianceMigrations)
