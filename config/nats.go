package config

import (
	"errors"
	"fmt"
	"strings"
)

// Environment variables of the NATS secrets.
const (
	envNATSPassword = envPrefix + "NATS_PASSWORD"
	envNATSToken    = envPrefix + "NATS_TOKEN"
)

// NATSClientKeys returns the keys of the settings a command needs to
// connect to NATS: the URLs, credentials and TLS. Commands that connect
// pass them to NewLoader, so each of them takes the same flags.
func NATSClientKeys() []string {
	return []string{
		"nats.url", "nats.user", "nats.password_file", "nats.token_file", "nats.nkey_file", "nats.creds_file",
		"nats.tls.ca_file", "nats.tls.cert_file", "nats.tls.key_file", "nats.tls.server_name",
	}
}

// resolveSecrets reads the password and the token from the environment
// or their files. Errors name variables and files, never values.
func (n *NATS) resolveSecrets(lookupEnv func(string) (string, bool)) error {
	var errs []error
	var err error
	n.Password, err = resolveSecret(lookupEnv, envNATSPassword, n.PasswordFile, "nats.password_file")
	errs = append(errs, err)
	n.Token, err = resolveSecret(lookupEnv, envNATSToken, n.TokenFile, "nats.token_file")
	errs = append(errs, err)
	return errors.Join(errs...)
}

// resolveSecret returns the value of the environment variable env or the
// content of file, whichever is set; both set is an error.
func resolveSecret(lookupEnv func(string) (string, bool), env, file, fileKey string) (Secret, error) {
	value, _ := lookupEnv(env)
	switch {
	case value != "" && file != "":
		return Secret{}, fmt.Errorf("%w: %s and %s are both set, use one", ErrInvalid, env, fileKey)
	case value != "":
		return NewSecret(value), nil
	case file != "":
		return readSecretFile(file, fileKey)
	}
	return Secret{}, nil
}

// validate checks that at most one authentication method is set, that
// each one is complete, and that the embedded server supports it.
func (n *NATS) validate() []error {
	var errs []error
	invalid := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w %s: %s", ErrInvalid, describeKey(key), fmt.Sprintf(format, args...)))
	}
	var methods []string
	if n.User != "" || !n.Password.IsZero() {
		methods = append(methods, "nats.user with a password")
	}
	if !n.Token.IsZero() {
		methods = append(methods, "a token")
	}
	if n.NKeyFile != "" {
		methods = append(methods, "nats.nkey_file")
	}
	if n.CredsFile != "" {
		methods = append(methods, "nats.creds_file")
	}

	if len(methods) > 1 {
		errs = append(errs, fmt.Errorf("%w nats: %s are set; use one authentication method", ErrInvalid, strings.Join(methods, ", ")))
	}
	if n.User != "" && n.Password.IsZero() {
		invalid("nats.user", "%q has no password; set %s or nats.password_file", n.User, envNATSPassword)
	}
	if n.User == "" && !n.Password.IsZero() {
		invalid("nats.password", "a password without a user; set nats.user too")
	}

	if (n.TLS.CertFile == "") != (n.TLS.KeyFile == "") {
		invalid("nats.tls.cert_file", "a client certificate needs both nats.tls.cert_file and nats.tls.key_file")
	}
	if n.Embedded && (n.NKeyFile != "" || n.CredsFile != "" || n.TLS.Enabled()) {
		errs = append(errs, fmt.Errorf("%w: the embedded NATS server (--embedded-nats) supports only nats.user with a password, "+
			"or a token; nats.nkey_file, nats.creds_file and nats.tls need an external server", ErrInvalid))
	}
	return errs
}
