package s3obj_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/objects"
)

// When the current version of a key is deleted, versitygw moves the
// previous version into its place, and until the move is done answers
// NoSuchKey for that previous version, which exists before and after.
// The driver must not take that for the version being gone: a scan of it
// would record it gone, and a quarantine deleting it would skip the delete
// and leave its bytes in the bucket. Found by the fault drill (make drill)
// on keys whose two versions were both quarantined at once: one record
// ended gone while its version stayed in the bucket, and one ended under
// review with its infected version still in the bucket.
func TestOlderVersionWhileTheCurrentOneIsDeleted(t *testing.T) {
	g := startGateway(t)
	d := g.driver(t, nil)
	ctx := t.Context()
	b := g.bucket(t, true)

	t.Run("open and head", func(t *testing.T) {
		const key = "race/promote.bin"
		older := mustPut(t, d, b, key, content(1, 256<<10), objects.PutOptions{})
		notFound, calls := 0, 0
		for i := range 5 {
			current := mustPut(t, d, b, key, content(uint64(i+2), 256<<10), objects.PutOptions{})
			done := make(chan error, 1)
			go func() { done <- d.Delete(ctx, current) }()
			for deleting := true; deleting; {
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("deleting the current version: %v", err)
					}
					deleting = false
				default:
				}
				rc, _, err := d.Open(ctx, older)
				if err == nil {
					rc.Close()
				}
				_, herr := d.Head(ctx, older)
				calls += 2
				for _, e := range []error{err, herr} {
					if errcode.Of(e) == errcode.NotFound {
						notFound++
					} else if e != nil && errcode.Of(e) != errcode.Unavailable {
						t.Errorf("the older version while the current one is deleted: %v; want it, or Unavailable", e)
					}
				}
			}
		}
		if notFound > 0 {
			t.Errorf("%d of %d Opens and Heads of an existing version said NotFound", notFound, calls)
		}
	})

	t.Run("delete", func(t *testing.T) {
		for i := range 8 {
			key := "race/both.bin"
			older := mustPut(t, d, b, key, content(uint64(100+i), 64<<10), objects.PutOptions{})
			current := mustPut(t, d, b, key, content(uint64(200+i), 64<<10), objects.PutOptions{})
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for j, ref := range []domain.ObjectRef{current, older} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// A quarantine retries an Unavailable delete; so
					// does this.
					for range 5 {
						if errs[j] = d.Delete(ctx, ref); errcode.Of(errs[j]) != errcode.Unavailable {
							return
						}
					}
				}()
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("deleting both versions at once: %v", err)
			}
			for _, ref := range []domain.ObjectRef{older, current} {
				if _, err := d.Head(ctx, ref); errcode.Of(err) != errcode.NotFound {
					t.Errorf("round %d: version %s was deleted without error but is still there (%v)", i, ref.VersionID, err)
				}
			}
		}
	})
}
