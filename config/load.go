package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Loader builds a Config from four layers, each overriding the one before:
// the defaults, the YAML file named by --config or CLAYBRIDGE_CONFIG, the
// environment, and the flags given on the command line.
type Loader struct {
	// LookupEnv reads environment variables, default os.LookupEnv. An
	// empty variable counts as unset.
	LookupEnv func(string) (string, bool)

	fs      *pflag.FlagSet
	path    string
	flagged Config
	bound   []setting
}

// NewLoader registers --config and the flags of the settings whose keys
// are given (all settings when none are) on fs. Call Load after fs.Parse.
func NewLoader(fs *pflag.FlagSet, keys ...string) *Loader {
	l := &Loader{LookupEnv: os.LookupEnv, fs: fs, flagged: Default()}
	fs.StringVar(&l.path, "config", "", "YAML configuration file (default $"+envConfig+")")
	for _, s := range settings {
		if s.flag == "" || (len(keys) > 0 && !contains(keys, s.key)) {
			continue
		}
		bindFlag(fs, s, s.field(&l.flagged))
		l.bound = append(l.bound, s)
	}
	return l
}

func contains(keys []string, key string) bool {
	for _, k := range keys {
		if k == key {
			return true
		}
	}
	return false
}

func bindFlag(fs *pflag.FlagSet, s setting, v reflect.Value) {
	switch p := v.Addr().Interface().(type) {
	case *string:
		fs.StringVar(p, s.flag, *p, s.usage)
	case *bool:
		fs.BoolVar(p, s.flag, *p, s.usage)
	case *int:
		fs.IntVar(p, s.flag, *p, s.usage)
	case *float64:
		fs.Float64Var(p, s.flag, *p, s.usage)
	case *time.Duration:
		fs.DurationVar(p, s.flag, *p, s.usage)
	default:
		panic(fmt.Sprintf("config: setting %s has unsupported type %T", s.key, p))
	}
}

// Load returns the configuration of the four layers, validated.
func (l *Loader) Load() (*Config, error) {
	cfg := Default()
	if path := l.configPath(); path != "" {
		if err := decodeFile(path, &cfg); err != nil {
			return nil, err
		}
	}
	if err := l.applyEnv(&cfg); err != nil {
		return nil, err
	}
	for _, s := range l.bound {
		if l.fs.Lookup(s.flag).Changed {
			s.field(&cfg).Set(s.field(&l.flagged))
		}
	}
	// Every command that connects to NATS needs its secrets, so Load
	// reads them; ResolveSecrets reads the Clay ones.
	if err := cfg.NATS.resolveSecrets(l.LookupEnv); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func (l *Loader) configPath() string {
	if l.path != "" {
		return l.path
	}
	return l.getenv(envConfig)
}

func (l *Loader) getenv(name string) string {
	value, _ := l.LookupEnv(name)
	return value
}

// decodeFile reads a YAML file over cfg. Unknown keys are errors, so a
// typo does not pass silently.
func decodeFile(path string, cfg *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read configuration file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("invalid configuration file %s: %w", path, err)
	}
	return nil
}

// applyEnv sets each setting whose environment variable is set.
func (l *Loader) applyEnv(cfg *Config) error {
	var errs []error
	for _, s := range settings {
		if s.secret {
			continue
		}
		for _, name := range s.env() {
			value := l.getenv(name)
			if value == "" {
				continue
			}
			if err := parseInto(s.field(cfg), value); err != nil {
				errs = append(errs, fmt.Errorf("invalid %s %q for %s: %w", name, value, s.key, err))
			}
			break
		}
	}
	return errors.Join(errs...)
}

// parseInto parses text into v by v's type.
func parseInto(v reflect.Value, text string) error {
	switch p := v.Addr().Interface().(type) {
	case *string:
		*p = text
	case *bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return errors.New("want true or false")
		}
		*p = b
	case *int:
		n, err := strconv.Atoi(text)
		if err != nil {
			return errors.New("want a whole number")
		}
		*p = n
	case *float64:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return errors.New("want a number")
		}
		*p = f
	case *time.Duration:
		d, err := time.ParseDuration(text)
		if err != nil {
			return errors.New("want a duration such as 30s or 5m")
		}
		*p = d
	default:
		return fmt.Errorf("unsupported type %T", p)
	}
	return nil
}
