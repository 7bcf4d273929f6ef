package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/internal/urlopen"
	"github.com/scangate/scangate/store"
)

// Usage strings of the flags that say where the store is, shared by run
// and users so the two always open the same store.
const (
	storeFlagUsage = "record store: bolt:///path/scangate.db (default: in --data) or dynamodb://TABLE?endpoint=URL&region=R[&create=true]"
)

// storeURL returns the store URL that --data and --store name: storeURL
// itself, or the embedded store in dataDir, which is created if missing.
func storeURL(dataDir, storeURL string) (string, error) {
	if storeURL != "" {
		return storeURL, nil
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(filepath.Join(dataDir, "scangate.db"))
	if err != nil {
		return "", err
	}
	return "bolt://" + abs, nil
}

// openStore opens the store that --data and --store name. The embedded
// store is one file that one process holds at a time; when another (a
// running scangate run) holds it, the error says so and what to do.
func openStore(ctx context.Context, dataDir, rawURL string, opts *store.Options) (*store.Store, error) {
	u, err := storeURL(dataDir, rawURL)
	if err != nil {
		return nil, err
	}
	drv, err := urlopen.Store(ctx, u)
	if err != nil {
		if strings.HasPrefix(u, "bolt://") && errcode.Of(err) == errcode.Unavailable {
			return nil, fmt.Errorf("%w\n(the embedded store is held by another process, most likely a running 'scangate run' with the same --data: stop it and try again)", err)
		}
		return nil, err
	}
	return store.New(drv, opts), nil
}
