package s3obj_test

import (
	"testing"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/objects"
)

// Deleting a version that no longer exists is not an error, also when the
// store says so with versitygw's 400 InvalidArgument ("Invalid version id
// specified") rather than S3's 204 or 404. Two quarantines of one version
// race that way (both Head it, one deletes it first), and so does the
// SDK's retry of a delete whose answer a reset connection lost. Found by
// the fault drill (make drill): the loser's Delete failed as Invalid, which
// the workflow does not retry, and the infected record ended failed with
// its bytes already in the quarantine.
func TestDeleteVanishedVersion(t *testing.T) {
	g := startGateway(t)
	d := g.driver(t, nil)
	ctx := t.Context()
	b := g.bucket(t, true)
	const key = "race/twice.bin"
	v1 := mustPut(t, d, b, key, []byte("one"), objects.PutOptions{})
	v2 := mustPut(t, d, b, key, []byte("two"), objects.PutOptions{})
	for _, ref := range []domain.ObjectRef{v1, v2} {
		// Without the ETag the driver sends the delete without a Head
		// first, as after a Head that a rival delete overtook.
		byVersion := domain.ObjectRef{Bucket: ref.Bucket, Key: ref.Key, VersionID: ref.VersionID}
		for i := range 2 {
			if err := d.Delete(ctx, byVersion); err != nil {
				t.Errorf("delete #%d of version %s: %v", i+1, ref.VersionID, err)
			}
		}
		if _, err := d.Head(ctx, byVersion); err == nil {
			t.Errorf("version %s is still there", ref.VersionID)
		}
	}
	// A version id that never existed is no different.
	bogus := domain.ObjectRef{Bucket: b, Key: key, VersionID: "01M8AQN7507XNCYDQSVRBGEDQT"}
	if err := d.Delete(ctx, bogus); err != nil {
		t.Errorf("delete of a version that never existed: %v", err)
	}
}
