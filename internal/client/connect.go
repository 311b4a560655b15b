package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/claybridge/claybridge/config"
)

// ConnectTimeout bounds dialing a NATS server and its handshake.
const ConnectTimeout = 5 * time.Second

// Connect opens a NATS connection named name with the URLs, credentials
// and TLS of cfg; an empty URL means nats://127.0.0.1:4222. Options in
// extra, such as reconnect handlers, are applied after those. Errors hide
// URL credentials and never quote a secret.
func Connect(cfg config.NATS, name string, extra ...nats.Option) (*nats.Conn, error) {
	url := cfg.URL
	if url == "" {
		url = nats.DefaultURL
	}
	opts, err := Options(cfg)
	if err != nil {
		return nil, err
	}
	opts = append([]nats.Option{nats.Name(name), nats.Timeout(ConnectTimeout)}, opts...)
	nc, err := nats.Connect(url, append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", config.RedactURL(url), err)
	}
	return nc, nil
}

// Options returns the nats.go options of cfg's credentials and TLS. It
// checks that each named file can be read, so a wrong path fails here with
// the setting's name rather than at the first handshake.
func Options(cfg config.NATS) ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case cfg.User != "":
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password.Reveal()))
	case !cfg.Token.IsZero():
		opts = append(opts, nats.Token(cfg.Token.Reveal()))
	case cfg.NKeyFile != "":
		if err := checkReadable(cfg.NKeyFile, "nats.nkey_file"); err != nil {
			return nil, err
		}
		opt, err := nats.NkeyOptionFromSeed(cfg.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("invalid nats.nkey_file %s: %w", cfg.NKeyFile, err)
		}
		opts = append(opts, opt)
	case cfg.CredsFile != "":
		if err := checkReadable(cfg.CredsFile, "nats.creds_file"); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	tlsOpts, err := tlsOptions(cfg.TLS)
	if err != nil {
		return nil, err
	}
	return append(opts, tlsOpts...), nil
}

// tlsOptions turns TLS on when any TLS setting is set. nats.go reads the
// CA and certificate files again on each reconnect, so renewed files take
// effect without a restart.
func tlsOptions(t config.NATSTLS) ([]nats.Option, error) {
	if !t.Enabled() {
		return nil, nil
	}
	opts := []nats.Option{nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName})}
	if t.CAFile != "" {
		if err := checkReadable(t.CAFile, "nats.tls.ca_file"); err != nil {
			return nil, err
		}
		opts = append(opts, nats.RootCAs(t.CAFile))
	}
	if t.CertFile != "" || t.KeyFile != "" {
		if t.CertFile == "" || t.KeyFile == "" {
			return nil, errors.New("invalid NATS client certificate: set both nats.tls.cert_file and nats.tls.key_file")
		}
		if err := checkReadable(t.CertFile, "nats.tls.cert_file"); err != nil {
			return nil, err
		}
		if err := checkReadable(t.KeyFile, "nats.tls.key_file"); err != nil {
			return nil, err
		}
		opts = append(opts, nats.ClientCert(t.CertFile, t.KeyFile))
	}
	return opts, nil
}

// checkReadable reports a file that cannot be opened, naming its setting.
func checkReadable(path, key string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	return f.Close()
}
