// Package version holds the claybridge version, set at build time with
// -ldflags "-X github.com/claybridge/claybridge/internal/version.Version=v1.2.3".
package version

// Version is the claybridge version, "dev" when not set at build time.
var Version = "dev"
