package main

import (
	"context"
	"fmt"
	"io"

	"github.com/claybridge/claybridge/config"
)

// configAbout explains the config command.
const configAbout = `Prints the configuration that "claybridge run" would use with the same
flags, environment and --config file, as YAML. Secrets, URL credentials
and webhook paths are redacted. With --defaults, prints every setting's
default with a comment naming its flag and environment variable, a
starting point for a --config file.`

func configCommand(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("config", "config [--defaults] [run flags]", configAbout, stderr)
	defaults := fs.Bool("defaults", false, "print the defaults of every setting, with comments")
	loader := config.NewLoader(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: config takes only flags", fs.Arg(0))
	}
	if *defaults {
		return config.WriteYAML(stdout, config.Default(), true)
	}
	cfg, err := loader.Load()
	if err != nil {
		return err
	}
	secretsErr := cfg.ResolveSecrets(loader.LookupEnv)
	if err := config.WriteYAML(stdout, *cfg, false); err != nil {
		return err
	}
	return secretsErr
}
