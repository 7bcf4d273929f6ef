package sqspoll_test

import (
	"context"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/scangate/scangate/internal/sqspoll"
	"github.com/scangate/scangate/lambdas"
)

// Feed an intake queue to the ingest handler until SIGTERM, as Lambda's
// event source mapping would.
func ExampleNew() {
	var h *lambdas.Handlers // from lambdas.New, with the store, bucket and Starter
	client := sqs.New(sqs.Options{Region: "eu-west-1"})
	p, err := sqspoll.New(client, "https://sqs.eu-west-1.amazonaws.com/111122223333/scangate-intake", h.IngestSQS, &sqspoll.Options{
		VisibilityTimeout: 5 * time.Minute,
		Logger:            slog.New(slog.NewJSONHandler(os.Stderr, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := p.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
