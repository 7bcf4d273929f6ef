package bench

import (
	"math"
	"testing"
)

// The harness prices the counts with docs/cost.md's formula: for the
// counts that page prices (a clean upload without a checksum), it must
// give that page's totals.
func TestPerMillionMatchesCostDoc(t *testing.T) {
	c := AWSCounts{
		Invocations: 3, WRU: 3, IndexWRU: 2, RRU: 1,
		S3Ops: map[string]float64{"GetObject": 1, "PutObjectTagging": 1},
	}
	got := c.PerMillion()
	for _, tt := range []struct {
		name      string
		got, want float64
	}{
		{"as deployed", got.AsDeployed, 18.46},
		{"traced", got.Traced, 43.18},
	} {
		// The page adds terms rounded to the cent.
		if math.Abs(tt.got-tt.want) > 0.05 {
			t.Errorf("%s: $%.4f per million, docs/cost.md says $%.2f", tt.name, tt.got, tt.want)
		}
	}
}
