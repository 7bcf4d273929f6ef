package intake_test

import (
	"fmt"
	"os"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/intake"
)

func ExampleDecode() {
	doc := intake.S3Notification(domain.ObjectRef{
		Bucket: "uploads", Key: "reports/Q1 2024+draft.pdf", VersionID: "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
		ETag: "9b2cf535f27731c974343645a3985328", Size: 48213, Sequencer: "0066432D13D7A3F2B1",
	})
	b, err := intake.Decode(doc)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range b.Refs {
		fmt.Println(b.Kind, r.Reason, r.Key)
	}
	_ = intake.WriteDecoded(os.Stdout, b)
	// Output:
	// s3 PutObject reports/Q1 2024+draft.pdf
	// {"bucket":"uploads","key":"reports/Q1 2024+draft.pdf","versionId":"3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY","etag":"9b2cf535f27731c974343645a3985328","size":48213,"sequencer":"0066432D13D7A3F2B1"}
}

func ExampleFilter_Apply() {
	b, _ := intake.Decode(intake.S3Notification(
		domain.ObjectRef{Bucket: "uploads", Key: "in/a.pdf", ETag: "e1", Size: 1},
		domain.ObjectRef{Bucket: "quarantine-bucket", Key: "infected/a.pdf", ETag: "e1", Size: 1},
	))
	f := intake.Filter{QuarantineBucket: "quarantine-bucket", SelfPrincipals: []string{"AWS:AROAEXAMPLESCANGATE"}}
	b = f.Apply(b)
	for _, r := range b.Refs {
		fmt.Println("scan", r.Bucket, r.Key)
	}
	for _, ig := range b.Ignored {
		fmt.Println("skip", ig.Object.Bucket, ig.Object.Key, "-", ig.Reason)
	}
	// Output:
	// scan uploads in/a.pdf
	// skip quarantine-bucket infected/a.pdf - written under the quarantine location
}

func ExampleSQSResponse() {
	batch := []byte(`{"Records":[
		{"messageId":"m1","eventSource":"aws:sqs","body":"not json"},
		{"messageId":"m2","eventSource":"aws:sqs","body":"{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\"}"}
	]}`)
	b, err := intake.Decode(batch)
	fmt.Println(err, len(b.Failures), b.Failures[0].Err)
	// m3's ref could not be recorded: report it too.
	fmt.Printf("%+v\n", intake.SQSResponse(b, "m3"))
	// Output:
	// <nil> 1 intake: sqs message body: malformed event: document is not json: invalid json at byte 2
	// {BatchItemFailures:[{ItemIdentifier:m1} {ItemIdentifier:m3}]}
}
