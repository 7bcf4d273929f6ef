// Package connect opens scangate's ports from URLs, so that the command, the
// Lambdas and the tests choose drivers the same way.
//
// # URLs
//
// Stores:
//
//	bolt:///path/to/scangate.db   the embedded bbolt store
//
// Object backends:
//
//	file:///path/to/dir           the local-directory bucket root
//
// Unknown schemes and unknown query parameters are errors, so a typo never
// silently falls back to a default.
package connect

import (
	"context"
	"fmt"
	"net/url"
	"slices"

	"github.com/scangate/scangate/objects"
	"github.com/scangate/scangate/objects/localdir"
	"github.com/scangate/scangate/store"
	"github.com/scangate/scangate/store/embedded"
)

// Store opens the store driver that rawURL names.
func Store(ctx context.Context, rawURL string) (store.Driver, error) {
	u, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "bolt":
		if err := onlyParams(u); err != nil {
			return nil, err
		}
		return embedded.Open(pathOf(u), nil)
	}
	return nil, fmt.Errorf("connect: unknown store scheme %q in %q (want bolt://)", u.Scheme, rawURL)
}

// Objects opens the object driver that rawURL names.
func Objects(ctx context.Context, rawURL string) (objects.Driver, error) {
	u, err := parse(rawURL)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "file":
		if err := onlyParams(u); err != nil {
			return nil, err
		}
		return localdir.Open(pathOf(u), nil)
	}
	return nil, fmt.Errorf("connect: unknown object scheme %q in %q (want file://)", u.Scheme, rawURL)
}

func parse(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("connect: %q has no scheme", rawURL)
	}
	return u, nil
}

func pathOf(u *url.URL) string {
	if u.Host != "" {
		// bolt://relative/path keeps its first segment in Host.
		return u.Host + u.Path
	}
	return u.Path
}

// onlyParams rejects query parameters not in allowed.
func onlyParams(u *url.URL, allowed ...string) error {
	for k := range u.Query() {
		if !slices.Contains(allowed, k) {
			return fmt.Errorf("connect: unknown parameter %q in %s URL", k, u.Scheme)
		}
	}
	return nil
}
