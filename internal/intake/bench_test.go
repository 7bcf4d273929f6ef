package intake

import (
	"fmt"
	"strings"
	"testing"

	"github.com/scangate/scangate/domain"
)

func BenchmarkDecode(b *testing.B) {
	ref := domain.ObjectRef{Bucket: "uploads", Key: "dir/a file+name é.pdf", VersionID: "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", ETag: "9b2cf535f27731c974343645a3985328", Size: 48213, Sequencer: "0066432D13D7A3F2B1"}
	one := S3Notification(ref)
	batch := func(n int) []byte {
		msgs := make([]map[string]any, n)
		for i := range msgs {
			msgs[i] = sqsMessage(fmt.Sprintf("m%d", i), snsEnvelopeOf(b, one))
		}
		return records(b, msgs...)
	}
	// The largest batch within MaxBatchBytes.
	n := MaxBatchBytes / len(batch(1))
	wide := `{"Records":[` + strings.Repeat(`{"eventSource":"aws:s3","x":[1,2,3]},`, MaxDocumentBytes/40) + `{"eventSource":"aws:s3"}]}`
	for _, bc := range []struct {
		name string
		data []byte
	}{
		{"s3", one},
		{"eventbridge", EventBridgeEvent(ref, "")},
		{"sqs-10", batch(10)},
		{fmt.Sprintf("sqs-%d", n), batch(n)},
		{"1MiB-bad-records", []byte(wide)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			for b.Loop() {
				_, _ = Decode(bc.data)
			}
		})
	}
}
