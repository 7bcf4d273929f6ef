package urlopen

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/objects/s3obj"
)

// OpenBucket opens the object driver and names the bucket that rawURL
// points at:
//
//	s3://BUCKET                       the S3 driver (package objects/s3obj)
//	file:///path/to/dir?bucket=NAME   the local-directory driver, rooted at
//	                                  the folder, which holds every bucket
//
// An s3 URL takes these query parameters, and no others:
//
//	region=R        the bucket's AWS region; default: the SDK's
//	                configuration (AWS_REGION, the profile), or us-east-1
//	                for a loopback endpoint
//	endpoint=URL    another S3 endpoint, such as a local versitygw
//	                (http://127.0.0.1:7070); buckets are then addressed by
//	                path (http://host/BUCKET/KEY). When it is a loopback
//	                address and no credentials are configured, the dummy
//	                credentials local/local are used, for local stand-ins
//	                that accept any
//
// Credentials come from the SDK's default chain (environment, shared
// files, SSO, container or instance roles). Nothing is sent until the
// first call.
//
// A file URL takes bucket=NAME and nothing else. Both kinds of URL need a
// bucket name that S3 accepts.
//
// The driver returned also implements io.Closer: Close releases the S3
// client's connections, or the local driver's folder.
func OpenBucket(ctx context.Context, rawURL string) (objects.Driver, string, error) {
	u, err := parse(rawURL)
	if err != nil {
		return nil, "", err
	}
	switch u.Scheme {
	case "s3":
		return openS3Bucket(ctx, u)
	case "file":
		if err := onlyParams(u, "bucket"); err != nil {
			return nil, "", err
		}
		bucket := u.Query().Get("bucket")
		if err := checkBucketName(bucket); err != nil {
			return nil, "", fmt.Errorf("connect: bucket=%q in %s: %w", bucket, u.Redacted(), err)
		}
		d, err := localdir.Open(pathOf(u), nil)
		if err != nil {
			return nil, "", err
		}
		return d, bucket, nil
	}
	return nil, "", fmt.Errorf("connect: unknown bucket scheme %q in %q (want s3:// or file://)", u.Scheme, u.Redacted())
}

// openS3Bucket opens s3://BUCKET?region=R&endpoint=URL.
func openS3Bucket(ctx context.Context, u *url.URL) (objects.Driver, string, error) {
	if err := onlyParams(u, "region", "endpoint"); err != nil {
		return nil, "", err
	}
	bucket := u.Host
	if (u.Path != "" && u.Path != "/") || u.User != nil || u.Port() != "" || u.Fragment != "" {
		return nil, "", fmt.Errorf("connect: s3 URL %q must be s3://BUCKET", u.Redacted())
	}
	if err := checkBucketName(bucket); err != nil {
		return nil, "", fmt.Errorf("connect: bucket %q in %s: %w", bucket, u.Redacted(), err)
	}
	q := u.Query()
	endpoint := q.Get("endpoint")
	loopback := false
	if q.Has("endpoint") {
		e, err := url.Parse(endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Hostname() == "" {
			return nil, "", fmt.Errorf("connect: endpoint=%q in s3 URL must be an http or https URL", endpoint)
		}
		loopback = isLoopback(e.Hostname())
	}

	// The SDK's buildable client (its timeouts, AWS_CA_BUNDLE), dialing
	// through a set that Close can end.
	conns := &connTracker{dialer: &net.Dialer{Timeout: awshttp.DefaultDialConnectTimeout, KeepAlive: awshttp.DefaultDialKeepAliveTimeout}}
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			tr.DialContext = conns.dial
		})),
	}
	if r := q.Get("region"); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	if loopback {
		// A local stand-in: never ask an instance metadata service.
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	fail := func(err error) (objects.Driver, string, error) {
		conns.closeAll()
		return nil, "", err
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return fail(fmt.Errorf("connect: load AWS configuration: %w", err))
	}
	if cfg.Region == "" {
		if !loopback {
			return fail(fmt.Errorf("connect: no AWS region for %s: set region= in the URL or AWS_REGION", u.Redacted()))
		}
		cfg.Region = "us-east-1"
	}
	if loopback {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := cfg.Credentials.Retrieve(rctx)
		cancel()
		if err != nil {
			cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		}
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	})
	d, err := s3obj.New(client, nil)
	if err != nil {
		return fail(err)
	}
	return &s3Bucket{Driver: d, conns: conns, client: client}, bucket, nil
}

// s3Bucket is an S3 driver whose client this package made: Close ends the
// client's connections.
type s3Bucket struct {
	*s3obj.Driver
	conns  *connTracker
	client *s3.Client
}

// S3Client returns the client, for presigning uploads to the bucket.
func (b *s3Bucket) S3Client() *s3.Client { return b.client }

// Close ends the connections of the driver's client, also those of
// streams still open. The driver must not be used afterwards.
func (b *s3Bucket) Close() error {
	b.conns.closeAll()
	return nil
}

func checkBucketName(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("a bucket name must be 3 to 63 characters long")
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '.' || c == '-':
			if i == 0 || i == len(b)-1 {
				return fmt.Errorf("a bucket name must start and end with a letter or digit")
			}
			if c == '.' && b[i-1] == '.' {
				return fmt.Errorf("a bucket name must not contain two dots in a row")
			}
		default:
			return fmt.Errorf("a bucket name may hold only lowercase letters, digits, dots and hyphens")
		}
	}
	return nil
}
