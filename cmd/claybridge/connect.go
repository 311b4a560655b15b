package main

import (
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/pflag"

	"github.com/claybridge/claybridge/config"
	"github.com/claybridge/claybridge/internal/client"
)

// natsLoader binds the flags of the NATS connection settings to fs, for
// the operator commands (results, dlq, pause, resume, forget, health).
func natsLoader(fs *pflag.FlagSet) *config.Loader {
	return config.NewLoader(fs, config.NATSClientKeys()...)
}

// connectJetStream loads the NATS settings, connects with them and opens
// JetStream. The caller closes the connection.
func connectJetStream(loader *config.Loader, name string) (*nats.Conn, jetstream.JetStream, error) {
	cfg, err := loader.Load()
	if err != nil {
		return nil, nil, err
	}
	nc, err := client.Connect(cfg.NATS, name)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("open JetStream: %w", err)
	}
	return nc, js, nil
}
