// Package asl holds scangate's workflow definitions, in Amazon States
// Language (JSONPath mode), exactly as they are deployed:
//
//   - scan.asl.json, an Express workflow: Claim, Scan, Record, then
//     Quarantine or Block; every failure ends in RecordFailure. An object
//     above the stream limit is handed to the large-object path (Offload),
//     whose execution of this same definition runs ScanLarge.
//   - review.asl.json, a Standard workflow: wait for an admin's decision
//     through a task token, then Decide.
//
// The same bytes are deployed by the CDK app, validated by asl-validator,
// executed by aws-local-stepfunctions in tests, and executed by scangate's
// own interpreter in the local runtime. Task resources are placeholders
// (${ClaimFunctionArn}, ...) that each runner substitutes.
package asl

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

//go:embed scan.asl.json
var scanDef []byte

//go:embed review.asl.json
var reviewDef []byte

//go:embed backfill.asl.json
var backfillDef []byte

// Backfill returns the backfill workflow's definition: a Standard state
// machine whose Distributed Map reads an S3 Inventory or a listing and
// hands batches of versions to the backfill function (on AWS, the ingest
// function).
func Backfill() []byte { return slices.Clone(backfillDef) }

// Scan returns the scan workflow's definition.
func Scan() []byte { return slices.Clone(scanDef) }

// Review returns the review workflow's definition.
func Review() []byte { return slices.Clone(reviewDef) }

var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9]+)\}`)

// Placeholders lists the ${Name} placeholders in def, sorted, once each.
func Placeholders(def []byte) []string {
	var names []string
	for _, m := range placeholder.FindAllSubmatch(def, -1) {
		if n := string(m[1]); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Substitute replaces every ${Name} in def with values[Name], as the CDK's
// definitionSubstitutions do. A placeholder without a value is an error, so
// a runner cannot start a definition with a hole in it.
func Substitute(def []byte, values map[string]string) ([]byte, error) {
	var missing []string
	out := placeholder.ReplaceAllFunc(def, func(m []byte) []byte {
		name := string(m[2 : len(m)-1])
		v, ok := values[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return []byte(v)
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("asl: no value for %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// ExecutionName is the deterministic name of a workflow execution for one
// object version: a readable prefix from the key's last segment, the record
// ID, and a generation that grows with every rescan, so a rescan gets a new
// execution while a duplicate start of the same generation collides.
// Names are at most 80 characters of [A-Za-z0-9-_].
func ExecutionName(kind, key, recordID string, generation int) string {
	base := key
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	var b strings.Builder
	for _, r := range base {
		switch {
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == '.' || r == ' ':
			b.WriteByte('_')
		}
		if b.Len() >= 24 {
			break
		}
	}
	readable := b.String()
	if readable == "" {
		readable = "object"
	}
	return fmt.Sprintf("%s-%s-%s-g%d", kind, readable, ExecutionRecordKey(recordID), generation)
}

// ExecutionRecordKey is the form of a record ID that ExecutionName puts
// in a name: the ID itself when it is at most 32 lowercase hex digits (as
// domain.ObjectRef.ID is), else 32 hex digits of its SHA-256.
func ExecutionRecordKey(recordID string) string {
	if len(recordID) > 32 || !isHex(recordID) {
		sum := sha256.Sum256([]byte(recordID))
		return hex.EncodeToString(sum[:16])
	}
	return recordID
}

// RecordKeyOf returns the ExecutionRecordKey in a name that
// ExecutionName made, also with a restart's "-rN" suffix, and whether
// name has one.
func RecordKeyOf(name string) (string, bool) {
	cut := func(s, sep string) (string, bool) {
		i := strings.LastIndex(s, sep)
		if i < 0 || !isDigits(s[i+len(sep):]) {
			return s, false
		}
		return s[:i], true
	}
	s, _ := cut(name, "-r")
	s, ok := cut(s, "-g")
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(s, '-')
	if i < 0 {
		return "", false
	}
	key := s[i+1:]
	if len(key) > 32 || !isHex(key) || !strings.Contains(s[:i], "-") {
		return "", false
	}
	return key, true
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return s != ""
}
