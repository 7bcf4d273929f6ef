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
func (g *Gate) protectStatements(b *protectedBucket) []awsiam.PolicyStatement {
	exempt := g.exemptRoles()
	anyone := []awsiam.IPrincipal{awsiam.NewAnyPrincipal()}
	objectArns := b.objectArns()
	return []awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String(SidReadOnlyScanned), Effect: awsiam.Effect_DENY, Principals: &anyone,
			Actions:   jsii.Strings("s3:GetObject", "s3:GetObjectVersion"),
			Resources: &objectArns,
			Conditions: &map[string]any{"StringNotEquals": map[string]any{
				"s3:ExistingObjectTag/" + objects.TagStatus: ReadableStatuses(),
				"aws:PrincipalArn": exempt,
			}},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String(SidOnlyScangateTag), Effect: awsiam.Effect_DENY, Principals: &anyone,
			Actions: jsii.Strings("s3:PutObjectTagging", "s3:PutObjectVersionTagging",
				"s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
			Resources: &objectArns,
			Conditions: &map[string]any{"StringNotEquals": map[string]any{
				"aws:PrincipalArn": exempt,
			}},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String(SidNoScangateTags), Effect: awsiam.Effect_DENY, Principals: &anyone,
			Actions:   jsii.Strings("s3:PutObject"),
			Resources: &objectArns,
			Conditions: &map[string]any{
				"ForAnyValue:StringEquals": map[string]any{"s3:RequestObjectTagKeys": TagKeys},
				"StringNotEquals":          map[string]any{"aws:PrincipalArn": exempt},
			},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid: jsii.String(SidTLSOnly), Effect: awsiam.Effect_DENY, Principals: &anyone,
			Actions: jsii.Strings("s3:*"),
			Resources: &[]*string{b.arn, awscdk.Fn_Join(jsii.String(""), &[]*string{b.arn, jsii.String("/*")})},
			Conditions: &map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
		}),
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
				b.bucket.(awss3.Bucket).AddToResourcePolicy(st)
			}
			continue
		}
		// One output per statement: an output's value may hold 4,096
		// characters, and the role ARNs repeat in three statements.
		name := g.props.ExistingBuckets[existingIndex(g, b)].Name
		for _, st := range sts {
			awscdk.NewCfnOutput(g.Scope, jsii.String(b.id+*st.Sid()), &awscdk.CfnOutputProps{
				Description: jsii.String("Bucket policy statement to merge into the policy of " + name + " (docs/deploy.md)"),
				Value:       g.stack.ToJsonString(st.ToStatementJson(), nil),
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
