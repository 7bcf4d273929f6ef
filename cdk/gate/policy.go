package gate

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/objects"
)

// ReadableStatuses are the values of objects.TagStatus that make a
// version readable: domain.Status.Readable, as the Go code decides it.
func ReadableStatuses() []string {
	var out []string
	for _, s := range domain.Statuses() {
		if s.Readable() {
			out = append(out, string(s))
		}
	}
	return out
}

// TagKeys are the tag keys only scangate writes.
var TagKeys = []string{objects.TagStatus, objects.TagScannedAt, objects.TagEngine, objects.TagDB, objects.TagSignature}

// Statement ids of the bucket policy.
const (
	SidReadOnlyScanned = "ScangateReadOnlyScannedVersions"
	SidOnlyScangateTag = "ScangateOnlyScangateTags"
	SidNoScangateTags  = "ScangateNoScangateTagsOnUpload"
	SidTLSOnly         = "ScangateTLSOnly"
)

// protectStatements is the bucket policy's allow-list for b. Every
// statement denies, to everyone but the exempt principals (scangate's
// roles): a deny with a condition on aws:PrincipalArn is the one way to
// bind principals the bucket owner does not control (an IAM policy that
// allows s3:* cannot override it).
//
//   - Reads of a version are denied unless its scangate-status tag is one
//     of ReadableStatuses; an untagged (unscanned) version has no such tag,
//     so StringNotEquals holds and the read is denied. The two condition
//     keys in one block are ANDed.
//   - Tag writes and deletes are denied, so no one tags a file clean.
//   - Uploads (and copies) that set any of scangate's tag keys are denied.
//   - Requests without TLS are denied.
//
// The statements are plain JSON-shaped data, so that the attached policy
// and the outputs for existing buckets are the same text.
func (g *Gate) protectStatements(b *protectedBucket) []map[string]any {
	exempt := g.exemptRoles()
	objectArns := b.objectArns()
	anyone := map[string]any{"AWS": "*"}
	return []map[string]any{
		{
			"Sid": SidReadOnlyScanned, "Effect": "Deny", "Principal": anyone,
			"Action":   []any{"s3:GetObject", "s3:GetObjectVersion"},
			"Resource": objectArns,
			"Condition": map[string]any{"StringNotEquals": map[string]any{
				"s3:ExistingObjectTag/" + objects.TagStatus: ReadableStatuses(),
				"aws:PrincipalArn":                          exempt,
			}},
		},
		{
			"Sid": SidOnlyScangateTag, "Effect": "Deny", "Principal": anyone,
			"Action": []any{"s3:PutObjectTagging", "s3:PutObjectVersionTagging",
				"s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"},
			"Resource":  objectArns,
			"Condition": map[string]any{"StringNotEquals": map[string]any{"aws:PrincipalArn": exempt}},
		},
		{
			"Sid": SidNoScangateTags, "Effect": "Deny", "Principal": anyone,
			"Action":   "s3:PutObject",
			"Resource": objectArns,
			"Condition": map[string]any{
				"ForAnyValue:StringEquals": map[string]any{"s3:RequestObjectTagKeys": TagKeys},
				"StringNotEquals":          map[string]any{"aws:PrincipalArn": exempt},
			},
		},
		{
			"Sid": SidTLSOnly, "Effect": "Deny", "Principal": anyone,
			"Action":    "s3:*",
			"Resource":  []*string{b.arn, awscdk.Fn_Join(jsii.String(""), &[]*string{b.arn, jsii.String("/*")})},
			"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
		},
	}
}

// policies attaches the statements to the bucket the stack owns, and
// outputs them for each existing bucket, whose policy is managed
// elsewhere: docs/deploy.md shows the merge.
func (g *Gate) policies() {
	for _, b := range g.protected {
		sts := g.protectStatements(b)
		if !b.existing {
			for _, st := range sts {
				b.bucket.(awss3.Bucket).AddToResourcePolicy(awsiam.PolicyStatement_FromJson(st))
			}
			continue
		}
		// One output per statement: an output's value may hold 4,096
		// characters, and the role ARNs repeat in three statements.
		name := g.props.ExistingBuckets[existingIndex(g, b)].Name
		for _, st := range sts {
			awscdk.NewCfnOutput(g.Scope, jsii.String(b.id+st["Sid"].(string)), &awscdk.CfnOutputProps{
				Description: jsii.String("Bucket policy statement to merge into the policy of " + name + " (docs/deploy.md)"),
				Value:       g.stack.ToJsonString(st, nil),
			})
		}
	}
}

func existingIndex(g *Gate, b *protectedBucket) int {
	i := 0
	for _, o := range g.protected {
		if o == b {
			return i
		}
		if o.existing {
			i++
		}
	}
	return -1
}
