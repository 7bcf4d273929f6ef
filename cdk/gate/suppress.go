package gate

// suppress records, on each resource, the cdk-nag findings that are
// accepted, with the reason.
func (g *Gate) suppress() {}
