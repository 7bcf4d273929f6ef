package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"

	"github.com/scangate/scangate/cdk/gate"
)

// context reads the app's settings from CDK context (-c key=value, or
// cdk.json). Lists are comma-separated; see docs/deploy.md.
type context func(key string) string

func contextOf(app awscdk.App) context {
	return func(key string) string {
		v := app.Node().TryGetContext(&key)
		if v == nil {
			return ""
		}
		if s, ok := v.(string); ok {
			return s
		}
		return fmt.Sprint(v)
	}
}

func (c context) stackName() string {
	if n := c("stackName"); n != "" {
		return n
	}
	return "Scangate"
}

func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// props turns the context into gate.Props. Keys:
//
//	newBucket=true|NAME        create a protected bucket (NAME: its name)
//	newBucketKmsKeyArn=ARN     encrypt it with that key
//	existingBuckets=B1,B2      protect existing buckets
//	prefixes.B1=p/,q/          only keys under these prefixes of B1
//	kmsKeyArn.B1=ARN           B1's SSE-KMS key
//	exemptPrincipalArns=A,B    other principals exempt from the policy
//	alarmEmail=ADDR
//	largeObjects=true, vpcId=, subnetIds=a,b, largeObjectsSpot=true
//	workflowLogLevel=ERROR|ALL|FATAL|OFF, omitExecutionData=true
//	functionLogLevel=INFO|DEBUG|WARN|ERROR, platformLogs=true
//	tracing=true               X-Ray on every function and workflow
//	logRetentionDays=N
//	scanMemoryMiB=, scanTimeoutSeconds=, scanEphemeralMiB=,
//	scanReservedConcurrency=, scanProvisionedConcurrency=
//	smallMemoryMiB=, smallTimeoutSeconds=
//	streamMaxBytes=, maxSignatureAgeHours=, unscannablePolicy=
//	ingestBatchSize=, ingestBatchWindowSeconds=, maxReceiveCount=,
//	sweepEveryMinutes=, quarantineExpireDays=
//	signatureMirror=URL        private mirror for the signature updater
//	signatureEveryHours=N      the updater's schedule (2)
//	signatureSwapSideBySide=true  swap sets without a scan waiting (needs
//	                           scanMemoryMiB >= 5376)
//	console=false              no admin console, no review URLs
//	consoleMfa=required|optional
//	consoleDomainPrefix=P      Cognito hosted domain prefix
//	oidcIssuer=URL, oidcClientId=ID, oidcClientSecretArn=ARN
//	                           sign in with that issuer, not Cognito
//	oidcNameClaim=, oidcRoleClaim=
//	reviewApiRoles=ARN=ROLE,.. more callers of the review API
//	resultBus=default|NAME|ARN the result events' bus (default: a new one)
//	inventoryBuckets=I1,I2     S3 Inventory destinations backfill may read
//	policyFile=PATH            per-prefix policy shipped to the scanners
//	repoDir=..                 the repository (assets, Dockerfile, asl)
func (c context) props() (*gate.Props, error) {
	var errs []string
	num := func(key string) int {
		v := c(key)
		if v == "" {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			errs = append(errs, fmt.Sprintf("%s=%q is not a whole number", key, v))
		}
		return n
	}
	yes := func(key string) bool {
		b, _ := strconv.ParseBool(c(key))
		return b
	}
	repo := c("repoDir")
	if repo == "" {
		repo = ".."
	}
	repo, _ = filepath.Abs(repo)
	p := &gate.Props{
		LambdaAssets:             filepath.Join(repo, "bin", "lambda"),
		ImageDir:                 repo,
		ASLDir:                   filepath.Join(repo, "asl"),
		AlarmEmail:               c("alarmEmail"),
		ExemptPrincipalArns:      list(c("exemptPrincipalArns")),
		InventoryBuckets:         list(c("inventoryBuckets")),
		PolicyFile:               c("policyFile"),
		WorkflowLogLevel:         c("workflowLogLevel"),
		OmitExecutionData:        yes("omitExecutionData"),
		FunctionLogLevel:         c("functionLogLevel"),
		PlatformLogs:             yes("platformLogs"),
		Tracing:                  yes("tracing"),
		LogRetentionDays:         num("logRetentionDays"),
		StreamMaxBytes:           int64(num("streamMaxBytes")),
		MaxSignatureAgeHours:     num("maxSignatureAgeHours"),
		UnscannablePolicy:        c("unscannablePolicy"),
		IngestBatchSize:          num("ingestBatchSize"),
		IngestBatchWindowSeconds: num("ingestBatchWindowSeconds"),
		MaxReceiveCount:          num("maxReceiveCount"),
		SweepEveryMinutes:        num("sweepEveryMinutes"),
		QuarantineExpireDays:     num("quarantineExpireDays"),
		Signatures: gate.Signatures{
			Mirror: c("signatureMirror"), EveryHours: num("signatureEveryHours"), SideBySide: yes("signatureSwapSideBySide"),
		},
		Scan: gate.FunctionSize{
			MemoryMiB: num("scanMemoryMiB"), TimeoutSeconds: num("scanTimeoutSeconds"), EphemeralMiB: num("scanEphemeralMiB"),
			ReservedConcurrency: num("scanReservedConcurrency"), ProvisionedConcurrency: num("scanProvisionedConcurrency"),
		},
		Small: gate.FunctionSize{MemoryMiB: num("smallMemoryMiB"), TimeoutSeconds: num("smallTimeoutSeconds")},
	}
	if nb := c("newBucket"); nb != "" && nb != "false" {
		p.NewBucket = &gate.NewBucket{KMSKeyArn: c("newBucketKmsKeyArn")}
		if nb != "true" {
			p.NewBucket.Name = nb
		}
	}
	for _, name := range list(c("existingBuckets")) {
		p.ExistingBuckets = append(p.ExistingBuckets, gate.ExistingBucket{
			Name: name, Prefixes: list(c("prefixes." + name)), KMSKeyArn: c("kmsKeyArn." + name),
		})
	}
	if v := c("console"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("console=%q is not true or false", v))
		}
		p.Console.Disabled = !on
	}
	p.Console.MFA = c("consoleMfa")
	p.Console.DomainPrefix = c("consoleDomainPrefix")
	p.Console.OIDCIssuer, p.Console.OIDCClientID, p.Console.OIDCClientSecretArn = c("oidcIssuer"), c("oidcClientId"), c("oidcClientSecretArn")
	p.Console.NameClaim, p.Console.RoleClaim = c("oidcNameClaim"), c("oidcRoleClaim")
	for _, pair := range list(c("reviewApiRoles")) {
		arn, role, ok := strings.Cut(pair, "=")
		if !ok {
			errs = append(errs, fmt.Sprintf("reviewApiRoles: %q is not ARN=ROLE", pair))
			continue
		}
		if p.Console.ReviewAPIRoles == nil {
			p.Console.ReviewAPIRoles = map[string]string{}
		}
		p.Console.ReviewAPIRoles[arn] = role
	}
	p.ResultBus = c("resultBus")
	if yes("largeObjects") {
		p.LargeObjects = &gate.LargeObjects{VpcID: c("vpcId"), SubnetIDs: list(c("subnetIds")), Spot: yes("largeObjectsSpot")}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("context: %s", strings.Join(errs, "; "))
	}
	return p, nil
}
