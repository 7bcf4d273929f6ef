package s3obj_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/objects/s3obj"
)

// Reading exactly the version an event named, as a stream, and telling a
// vanished or replaced object from a transient failure. It needs AWS
// credentials and a bucket, so it is compiled but not run.
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	d, err := s3obj.New(s3.NewFromConfig(cfg), nil)
	if err != nil {
		log.Fatal(err)
	}
	ref := domain.ObjectRef{
		Bucket:    "uploads",
		Key:       "reports/q3.pdf",
		VersionID: "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
		ETag:      "9e107d9d372bb6826bd81d3542a419d6",
	}
	rc, info, err := d.Open(ctx, ref)
	switch errcode.Of(err) {
	case errcode.NotFound, errcode.Changed:
		fmt.Println("that version is gone; nothing to scan")
		return
	case errcode.Unavailable:
		log.Fatalf("retry later: %v", err)
	}
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	if info.SHA256 != "" {
		fmt.Println("S3 vouches for SHA-256", info.SHA256)
	}
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("read %d bytes, sha256 %x\n", info.Ref.Size, h.Sum(nil))
}
