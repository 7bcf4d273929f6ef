package lambdaenv

import (
	"context"
	"strings"

	"github.com/scangate/scangate/internal/urlopen"
	"github.com/scangate/scangate/objects"
)

// openObjects opens SCANGATE_OBJECTS. urlopen.Objects knows only file://
// URLs; in AWS the value is s3://BUCKET, which urlopen.OpenBucket opens
// (its driver reaches every bucket: each ref names its own).
func openObjects(ctx context.Context, rawURL string) (objects.Driver, error) {
	if strings.HasPrefix(rawURL, "s3://") {
		d, _, err := urlopen.OpenBucket(ctx, rawURL)
		return d, err
	}
	return urlopen.Objects(ctx, rawURL)
}
