package clamd_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/scangate/scangate/internal/clamd"
)

func ExampleParseReply() {
	for _, reply := range []string{
		"stream: OK",
		"stream: Win.Test.EICAR_HDB-1 FOUND",
		"stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND",
		"INSTREAM size limit exceeded. ERROR",
		"stream: OK\n",
	} {
		res, err := clamd.ParseReply(reply)
		fmt.Printf("%q: status=%v clean=%v limit=%q err=%v\n", reply, res.Status, res.Clean(), res.Limit, err)
	}
	// Output:
	// "stream: OK": status=clean clean=true limit="" err=<nil>
	// "stream: Win.Test.EICAR_HDB-1 FOUND": status=found clean=false limit="" err=<nil>
	// "stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND": status=limit clean=false limit="MaxFileSize" err=<nil>
	// "INSTREAM size limit exceeded. ERROR": status=size-limit clean=false limit="StreamMaxLength" err=<nil>
	// "stream: OK\n": status=unknown clean=false limit="" err=clamd: unexpected reply "stream: OK\n": clamd protocol error
}

func ExampleClient_Instream() {
	c, err := clamd.New("unix:///run/clamav/clamd.ctl", clamd.Options{})
	if err != nil {
		log.Fatal(err)
	}
	res, err := c.Instream(context.Background(), strings.NewReader("object body"))
	switch {
	case err != nil:
		// Not scanned: retry later (ErrUnavailable, ErrTimeout) or fail
		// the object (ErrSource, ErrProtocol). Never release it.
		log.Printf("scan failed: %v", err)
	case res.Clean():
		log.Printf("clean after %d bytes", res.Bytes)
	default:
		// Found, limit, size limit or error: all withhold the object.
		log.Printf("not clean: %v %v %s", res.Status, res.Signatures, res.Limit)
	}
}
