package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/scangate/scangate/internal/backfill"
)

// --aws sends StartExecution as Step Functions' JSON protocol has it,
// with the input backfill.asl.json reads.
func TestStartAWSBackfill(t *testing.T) {
	const arn = "arn:aws:states:us-east-1:123456789012:stateMachine:scangate-backfill"
	var got map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "AWSStepFunctions.StartExecution" || r.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
			t.Errorf("request %s %v", r.Header.Get("X-Amz-Target"), r.Header)
		}
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &got)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		json.NewEncoder(w).Encode(map[string]any{"executionArn": "arn:aws:states:us-east-1:123456789012:execution:scangate-backfill:" + got["name"], "startDate": 1.7e9})
	}))
	defer srv.Close()
	c := sfn.New(sfn.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), Credentials: aws.AnonymousCredentials{}})
	for _, tc := range []struct {
		spec backfill.Spec
		want string
	}{
		{backfill.Spec{Bucket: "b", Prefix: "p/", Concurrency: 8},
			`{"allVersions":false,"bucket":"b","dryRun":false,"maxConcurrency":8,"prefix":"p/"}`},
		{backfill.Spec{Bucket: "b", Inventory: "s3://inv/b/manifest.json", DryRun: true, AllVersions: true, Concurrency: 2},
			`{"allVersions":true,"bucket":"b","dryRun":true,"inventory":{"bucket":"inv","key":"b/manifest.json"},"maxConcurrency":2,"prefix":""}`},
	} {
		exec, err := startExecution(t.Context(), c, arn, tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got["stateMachineArn"] != arn || got["input"] != tc.want {
			t.Errorf("StartExecution %v; want input %s", got, tc.want)
		}
		if !regexp.MustCompile(`^`+tc.spec.JobID()+`-[0-9a-f]{8}$`).MatchString(got["name"]) || len(got["name"]) > 80 {
			t.Errorf("execution name %q", got["name"])
		}
		if exec == "" {
			t.Error("no execution ARN")
		}
	}
	if _, err := startAWSBackfill(t.Context(), "", backfill.Spec{Bucket: "b"}); err != errNoStateMachine {
		t.Errorf("no ARN: %v", err)
	}
}
