package config

import (
	"fmt"

	"github.com/claybridge/claybridge/callback"
)

// envCallbackSecret holds the secret that signs callback tokens.
const envCallbackSecret = envPrefix + "CALLBACK_SECRET"

// Callback is the listener that receives the rows Clay's HTTP API column
// posts back for tables with callback set.
type Callback struct {
	// Listen is the listener's address, default 127.0.0.1:8090. It never
	// serves /metrics or the health endpoints.
	Listen string `yaml:"listen"`
	// PublicURL is the base URL Clay posts to, which must reach every
	// replica's listener (a load balancer or ingress in front of them).
	// Default empty; with --sim it is the listener's own address.
	PublicURL string `yaml:"public_url"`
	// SecretFile is a file holding the secret, default empty.
	SecretFile string `yaml:"secret_file"`
	// Secret signs each row's callback token. ResolveSecrets reads it
	// from CLAYBRIDGE_CALLBACK_SECRET or SecretFile; a YAML file cannot
	// set it.
	Secret Secret `yaml:"secret,omitempty"`
	// TLSCertFile and TLSKeyFile make the listener serve HTTPS, default
	// empty: plain HTTP behind a proxy that terminates TLS.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
}

// DefaultCallbackListen is the default of callback.listen.
const DefaultCallbackListen = "127.0.0.1:8090"

// CallbackTables returns the names of the tables that call back.
func (c *Config) CallbackTables() []string {
	var names []string
	for _, name := range sortedTableNames(c.Tables) {
		if c.Tables[name].Callback {
			names = append(names, name)
		}
	}
	return names
}

// validate checks the public URL and that the TLS files come in a pair.
func (cb *Callback) validate() []error {
	var errs []error
	invalid := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w %s: %s", ErrInvalid, describeKey(key), fmt.Sprintf(format, args...)))
	}
	if cb.PublicURL != "" && !isHTTPURL(cb.PublicURL) {
		invalid("callback.public_url", "%s is not an http or https URL", RedactURL(cb.PublicURL))
	}
	if (cb.TLSCertFile == "") != (cb.TLSKeyFile == "") {
		invalid("callback.tls_cert_file", "set callback.tls_cert_file and callback.tls_key_file together")
	}
	return errs
}

// resolveSecret reads the callback secret from the environment or its
// file. Errors name the variable and the file, never the value.
func (cb *Callback) resolveSecret(lookupEnv func(string) (string, bool)) error {
	secret, err := resolveSecret(lookupEnv, envCallbackSecret, cb.SecretFile, "callback.secret_file")
	if err != nil {
		return err
	}
	if !secret.IsZero() && len(secret.Reveal()) < callback.MinSecretBytes {
		return fmt.Errorf("%w callback secret from %s or callback.secret_file: %d bytes, use %d or more",
			ErrInvalid, envCallbackSecret, len(secret.Reveal()), callback.MinSecretBytes)
	}
	cb.Secret = secret
	return nil
}
