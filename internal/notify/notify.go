// Package notify delivers scangate's result events (lambdas.ResultEvent)
// to the world: a signed webhook (locally, and optionally on AWS) and
// EventBridge PutEvents (on AWS). A notification that cannot be sent is
// recorded and retried, and never changes a verdict: emitters return no
// error to the step that called them.
package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"time"

	"github.com/scangate/scangate/lambdas"
)

// Source and DetailType name scangate's events on EventBridge and in the
// webhook's body.
const (
	Source     = "scangate"
	DetailType = "Scangate Result"
)

// Message is the body of a webhook delivery and the shape of an
// EventBridge event's detail plus its envelope.
type Message struct {
	// ID identifies this event; a retried delivery repeats it.
	ID         string              `json:"id"`
	Source     string              `json:"source"`
	DetailType string              `json:"detail-type"`
	Time       time.Time           `json:"time"`
	Detail     lambdas.ResultEvent `json:"detail"`
	// Link leads to the item in the console, for an outcome that opened a
	// review: signed and expiring, and it still needs sign-in.
	Link string `json:"link,omitempty"`
}

// Multi sends every event to each emitter in turn.
type Multi []lambdas.ResultEmitter

// Emit implements lambdas.ResultEmitter.
func (m Multi) Emit(ctx context.Context, ev lambdas.ResultEvent) {
	for _, e := range m {
		e.Emit(ctx, ev)
	}
}

// DeriveKey derives a key for one purpose from a secret, so that one
// configured secret can sign several things without one signature standing
// for another.
func DeriveKey(secret []byte, purpose string) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("scangate/" + purpose))
	return mac.Sum(nil)
}
