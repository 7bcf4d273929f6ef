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
	"encoding/base64"
	"strconv"
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

// Delivery is one webhook delivery, as the console's deliveries page
// shows it.
type Delivery struct {
	ID, Target, RecordID, Outcome, Status, LastError string
	Attempts                                         int
	Created, Finished                                time.Time
}

// SignedLink returns the console's path of record id for a notification,
// valid until exp and signed with key. The link still needs sign-in; the
// signature means a link in a message can be told from one anyone could
// make up, and the expiry keeps old messages from staying live forever.
func SignedLink(key []byte, id string, exp time.Time) string {
	payload := id + "." + strconv.FormatInt(exp.Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("scangate-link\x00" + payload))
	return "/admin/link/" + payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}
