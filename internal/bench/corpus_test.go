package bench

import (
	"bytes"
	"io"
	"testing"

	"github.com/scangate/scangate/internal/clamd/clamdtest"
)

func TestPayload(t *testing.T) {
	for _, size := range []int64{int64(len(clamdtest.EICAR)), 100, 10 << 10, 3<<20 + 7} {
		for _, infected := range []bool{false, true} {
			b, err := io.ReadAll(NewPayload(1, 2, size, infected))
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(b)) != size {
				t.Fatalf("size %d: got %d bytes", size, len(b))
			}
			i := bytes.Index(b, []byte(clamdtest.EICAR))
			if !infected {
				if i >= 0 {
					t.Fatalf("size %d: clean payload holds EICAR", size)
				}
				continue
			}
			// In the last KiB: only a scan of the whole stream finds it.
			if i < 0 || size-int64(i) > 1024 {
				t.Fatalf("size %d: EICAR at %d", size, i)
			}
			again, _ := io.ReadAll(NewPayload(1, 2, size, infected))
			if !bytes.Equal(b, again) {
				t.Fatalf("size %d: the same seed gave other bytes", size)
			}
			other, _ := io.ReadAll(NewPayload(1, 3, size, infected))
			if size > 100 && bytes.Equal(b, other) {
				t.Fatalf("size %d: two objects got the same bytes", size)
			}
		}
	}
}
