package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// redactedText replaces a secret in every printed or encoded form.
const redactedText = "[redacted]"

// ErrSecretInFile is returned when a YAML file holds a secret's value.
var ErrSecretInFile = errors.New("secrets are not read from the configuration file")

// Secret is a credential read from the environment or a file. Printing,
// logging and encoding it as JSON or YAML all give "[redacted]" (or ""
// when unset); only Reveal returns the value.
type Secret struct {
	value string
}

// NewSecret returns a Secret holding value.
func NewSecret(value string) Secret { return Secret{value: value} }

// Reveal returns the secret's value, for the one place that sends it.
func (s Secret) Reveal() string { return s.value }

// IsZero reports whether the secret is unset.
func (s Secret) IsZero() bool { return s.value == "" }

// String returns "[redacted]", or "" when the secret is unset.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return redactedText
}

// GoString is String, so %#v redacts too.
func (s Secret) GoString() string { return s.String() }

// Format writes String for every verb, so no fmt verb shows the value.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// MarshalJSON encodes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalYAML encodes the redacted form.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// UnmarshalYAML rejects every value, so a secret never sits in a file
// that is copied, committed or printed. The error omits the value.
func (s *Secret) UnmarshalYAML(node *yaml.Node) error {
	return fmt.Errorf("line %d: %w: set clay.api_key through %s or clay.api_key_file, "+
		"nats.password through %s or nats.password_file, nats.token through %s or nats.token_file, "+
		"callback.secret through %s or callback.secret_file, and a table's token through its token_env or token_file",
		node.Line, ErrSecretInFile, envClayAPIKey, envNATSPassword, envNATSToken, envCallbackSecret)
}

// readSecretFile returns the trimmed content of the secret file that key
// names. Errors name the file and the key, never the content.
func readSecretFile(path, key string) (Secret, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Secret{}, fmt.Errorf("read %s: %w", key, err)
	}
	value := strings.TrimSpace(string(data))
	if value == "" {
		return Secret{}, fmt.Errorf("invalid %s: file %s is empty", key, path)
	}
	return NewSecret(value), nil
}
