package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/claybridge/claybridge/callback"
	"github.com/claybridge/claybridge/config"
	"github.com/claybridge/claybridge/processor"
)

// checkCallbacks reports what a table that calls back is missing: with
// real Clay, the public URL and the secret; the simulator supplies both.
func checkCallbacks(cfg *config.Config) error {
	tables := cfg.CallbackTables()
	if len(tables) == 0 || cfg.Sim.Enabled {
		return nil
	}
	switch {
	case cfg.Callback.PublicURL == "":
		return fmt.Errorf("missing callback URL for tables %s: set --public-url (or CLAYBRIDGE_CALLBACK_PUBLIC_URL, callback.public_url) to the HTTPS address that reaches every replica's callback listener",
			strings.Join(tables, ", "))
	case cfg.Callback.Secret.IsZero():
		return fmt.Errorf("missing callback secret for tables %s: set CLAYBRIDGE_CALLBACK_SECRET or --callback-secret-file, the same on every replica",
			strings.Join(tables, ", "))
	}
	return nil
}

// startCallbacks starts the callback listener when a table calls back,
// and sets the processor's callback URL and secret. With the simulator, a
// missing secret is replaced by a random one and a missing public URL by
// the listener's own address.
func (r *runner) startCallbacks(nc *nats.Conn, procCfg *processor.Config, registry prometheus.Registerer, log zerolog.Logger) (func(), error) {
	if len(r.cfg.CallbackTables()) == 0 {
		return func() {}, nil
	}
	if len(procCfg.CallbackSecret) == 0 {
		if !r.cfg.Sim.Enabled {
			return nil, errors.New("missing callback secret: set CLAYBRIDGE_CALLBACK_SECRET or --callback-secret-file")
		}
		procCfg.CallbackSecret = callback.NewSecret()
		log.Warn().Msg("callback secret is ephemeral: none was set, so a random one signs this run's callback tokens and callbacks for rows pushed before a restart get 401")
	}

	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("open JetStream: %w", err)
	}
	h, err := callback.NewHandler(callback.Config{
		JetStream: js, Secret: procCfg.CallbackSecret, Registerer: registry,
		Logger: log.With().Str("component", "callback").Logger(),
	})
	if err != nil {
		return nil, err
	}

	cb := r.cfg.Callback
	srv, err := callback.Serve(callback.ServerConfig{Listen: cb.Listen, CertFile: cb.TLSCertFile, KeyFile: cb.TLSKeyFile}, h, log)
	if err != nil {
		return nil, err
	}

	if procCfg.CallbackURL == "" {
		scheme := "http"
		if cb.TLSCertFile != "" {
			scheme = "https"
		}
		procCfg.CallbackURL = scheme + "://" + srv.Addr().String()
	}
	log.Info().Str("addr", srv.Addr().String()).Str("public_url", procCfg.CallbackURL).Strs("tables", r.cfg.CallbackTables()).
		Msg("serving Clay callbacks on POST /v1/callbacks/{key}")
	return srv.Close, nil
}
