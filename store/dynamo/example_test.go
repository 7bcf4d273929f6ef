package dynamo_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/dynamo"
)

// Example opens the driver over an existing table with the SDK's default
// configuration (in a Lambda: its role and region) and claims a record.
// It needs AWS, so it is compiled but not run; connect.Store with a
// dynamodb:// URL does the same from a URL.
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	d, err := dynamo.New(dynamodb.NewFromConfig(cfg), "scangate-records", nil)
	if err != nil {
		log.Fatal(err)
	}
	s := store.New(d, nil)
	defer s.Close()

	rec, _, err := s.Ingest(ctx, domain.ObjectRef{Bucket: "uploads", Key: "a.pdf", VersionID: "v1"}, "example", "")
	if err != nil {
		log.Fatal(err)
	}
	rec, err = s.Claim(ctx, rec.ID, "worker-1", time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rec.State)
}

// ExampleCreateTable creates the table, for local development against
// dynalite or for a test account; production tables come from the CDK
// stack, built from dynamo.TableSchema.
func ExampleCreateTable() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := dynamo.CreateTable(ctx, dynamodb.NewFromConfig(cfg), "scangate-records"); err != nil {
		log.Fatal(err)
	}
	for _, ix := range dynamo.TableSchema().Indexes {
		fmt.Println(ix.Name, ix.PartitionKey.Name, ix.SortKey.Name, ix.Projection)
	}
}
