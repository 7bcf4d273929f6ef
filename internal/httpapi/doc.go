// Package httpapi is scangate's HTTP API on one machine (`scangate run`):
// uploads and upload URLs standing in for S3, event ingestion for
// S3-compatible servers' webhooks, records with their histories and
// execution traces, the review queue and decisions, the allowlist,
// accounts and tokens, POST /scan, metrics and health.
//
// Every route that reads a record or changes anything authenticates its
// caller (package authn) and checks a role; the whole API sits behind a
// Host allow-list and cross-origin protection (guard). The handlers it
// calls are the same ones the Lambdas run.
package httpapi
