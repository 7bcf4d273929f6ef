package lambdaenv

import (
	"context"
	"strings"

	"github.com/scangate/scangate/connect"
	"github.com/scangate/scangate/objects"
)

// openObjects opens SCANGATE_OBJECTS. connect.Objects knows only file://
// URLs; in AWS the value is s3://BUCKET, which connect.OpenBucket opens
// (its driver reaches every bucket: each ref names its own).
func openObjects(ctx context.Context, rawURL string) (objects.Driver, error) {
	if strings.HasPrefix(rawURL, "s3://") {
		d, _, err := connect.OpenBucket(ctx, rawURL)
		return d, err
	}
	return connect.Objects(ctx, rawURL)
}
