package metrics_test

import (
	"os"
	"time"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/internal/metrics"
)

// A Lambda writes one EMF line per scan to stdout; CloudWatch Logs turns
// it into the Scans, ScanBytes and ScanDuration metrics by Outcome.
func ExampleEMF() {
	now := func() time.Time { return time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC) }
	rec := metrics.NewEMF(os.Stdout, metrics.EMFOptions{Now: now})
	rec.Scan(metrics.ScanResult{
		Outcome: domain.OutcomeClean, Bytes: 1024, Duration: 42 * time.Millisecond,
		Bucket: "uploads", Key: "reports/q3.pdf", VersionID: "3HL4kqtJlcpXroDTDmJ",
	})
	// Output:
	// {"_aws":{"Timestamp":1795597200000,"CloudWatchMetrics":[{"Namespace":"scangate","Dimensions":[["Outcome"]],"Metrics":[{"Name":"Scans","Unit":"Count"},{"Name":"ScanBytes","Unit":"Bytes"},{"Name":"ScanDuration","Unit":"Milliseconds"}]}]},"Outcome":"clean","Scans":1,"ScanBytes":1024,"ScanDuration":42,"bucket":"uploads","key":"reports/q3.pdf","versionId":"3HL4kqtJlcpXroDTDmJ"}
}
