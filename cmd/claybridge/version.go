package main

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/claybridge/claybridge/internal/version"
)

func versionCommand(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", "version", "", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "claybridge %s %s %s/%s\n", version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
