package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"time"

	"github.com/claybridge/claybridge/internal/logging"
)

// ErrInvalid is wrapped by every error about a setting's value.
var ErrInvalid = errors.New("invalid setting")

// Validate reports every setting whose value cannot work, each error
// naming the setting's key, flag and environment variable.
func (c *Config) Validate() error {
	var errs []error
	check := func(ok bool, key, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("%w %s: %s", ErrInvalid, describeKey(key), fmt.Sprintf(format, args...)))
		}
	}
	if _, err := logging.New(io.Discard, c.Log.Level, c.Log.Format); err != nil {
		errs = append(errs, fmt.Errorf("%w: %v (log.level, log.format)", ErrInvalid, err))
	}
	for key, addr := range map[string]string{"nats.listen": c.NATS.Listen, "sim.listen": c.Sim.Listen, "http.listen": c.HTTP.Listen, "callback.listen": c.Callback.Listen} {
		_, _, err := net.SplitHostPort(addr)
		check(err == nil, key, "%q is not host:port", addr)
	}
	if c.Clay.URL != "" {
		check(isHTTPURL(c.Clay.URL), "clay.url", "%s is not an http or https URL", RedactURL(c.Clay.URL))
	}
	errs = append(errs, c.NATS.validate()...)
	errs = append(errs, c.Processor.validate()...)
	errs = append(errs, c.validateTables()...)
	errs = append(errs, c.Callback.validate()...)
	sortErrors(errs)
	return errors.Join(errs...)
}

func (p *Processor) validate() []error {
	var errs []error
	atLeast := func(key string, got, least int) {
		if got < least {
			errs = append(errs, fmt.Errorf("%w %s: %d, use %d or more", ErrInvalid, describeKey(key), got, least))
		}
	}
	atLeastDuration := func(key string, got, least time.Duration) {
		if got < least {
			errs = append(errs, fmt.Errorf("%w %s: %s, use %s or more", ErrInvalid, describeKey(key), got, least))
		}
	}
	atLeast("processor.workers.critical", p.Workers.Critical, 1)
	atLeast("processor.workers.normal", p.Workers.Normal, 1)
	atLeast("processor.workers.bulk", p.Workers.Bulk, 1)
	atLeast("processor.burst", p.Burst, 1)
	atLeast("processor.max_deliver", p.MaxDeliver, 1)
	atLeast("processor.breaker.failures", p.Breaker.Failures, 1)
	atLeast("processor.breaker.successes", p.Breaker.Successes, 1)
	atLeast("processor.max_parked", p.MaxParked, 1)
	atLeast("processor.guaranteed_share", p.GuaranteedShare, 1)
	atLeast("processor.memory_limit_mb", p.MemoryLimitMB, -1)
	if p.MemoryLimitMB > maxMemoryLimitMB {
		errs = append(errs, fmt.Errorf("%w %s: %d, use at most %d (1 TiB)", ErrInvalid, describeKey("processor.memory_limit_mb"), p.MemoryLimitMB, maxMemoryLimitMB))
	}

	if p.RateLimit < 0 {
		errs = append(errs, fmt.Errorf("%w %s: %g, use 0 (no limit) or more", ErrInvalid, describeKey("processor.rate_limit"), p.RateLimit))
	}
	if p.Replicas != 1 && p.Replicas != 3 {
		errs = append(errs, fmt.Errorf("%w %s: %d, use 1 or 3", ErrInvalid, describeKey("processor.replicas"), p.Replicas))
	}

	atLeastDuration("processor.ack_wait", p.AckWait, time.Second)
	atLeastDuration("processor.request_timeout", p.RequestTimeout, time.Millisecond)
	atLeastDuration("processor.long_poll_timeout", p.LongPollTimeout, time.Millisecond)
	atLeastDuration("processor.routine_poll_interval", p.RoutinePollInterval, time.Millisecond)
	atLeastDuration("processor.retry_base", p.RetryBase, time.Second)
	atLeastDuration("processor.retry_max", p.RetryMax, p.RetryBase)
	atLeastDuration("processor.heartbeat_interval", p.HeartbeatInterval, time.Millisecond)
	atLeastDuration("processor.duplicate_window", p.DuplicateWindow, time.Second)
	atLeastDuration("processor.shutdown_grace", p.ShutdownGrace, 0)
	atLeastDuration("processor.breaker.open_timeout", p.Breaker.OpenTimeout, time.Millisecond)
	atLeastDuration("processor.probe_interval", p.ProbeInterval, time.Millisecond)
	atLeastDuration("processor.retry_after_min", p.RetryAfterMin, time.Millisecond)
	atLeastDuration("processor.retry_after_max", p.RetryAfterMax, p.RetryAfterMin)
	atLeastDuration("processor.rate_limit_pause", p.RateLimitPause, time.Millisecond)
	return errs
}

// validateTables checks each table's keys. Errors never quote a webhook
// URL, which is a credential.
func (c *Config) validateTables() []error {
	var errs []error
	for name, t := range c.Tables {
		key := "tables." + name
		switch {
		case name == "":
			errs = append(errs, fmt.Errorf("%w tables: a table has an empty name", ErrInvalid))
		case t.WebhookURL == "" && (c.Sim.Enabled || c.Clay.URL != ""):
			// The table maps to pull-in-data-from-a-webhook-<name> on the
			// simulator's or --clay-url's base URL.
		case t.WebhookURL == "":
			errs = append(errs, fmt.Errorf("%w %s.webhook_url: missing, set the URL of the table's webhook source", ErrInvalid, key))
		case !isHTTPURL(t.WebhookURL):
			errs = append(errs, fmt.Errorf("%w %s.webhook_url: not an http or https URL", ErrInvalid, key))
		}
		if t.TokenEnv != "" && t.TokenFile != "" {
			errs = append(errs, fmt.Errorf("%w %s: token_env and token_file are both set, use one", ErrInvalid, key))
		}
	}
	return errs
}

func isHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// sortErrors orders errors by text, so map iteration does not reorder
// messages between runs.
func sortErrors(errs []error) {
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
}

// envClayAPIKey holds the Clay Public API key.
const envClayAPIKey = envPrefix + "CLAY_API_KEY"

// ResolveSecrets reads the Clay API key and each table's token from the
// environment or their files. Commands that call Clay need it; clients
// that only publish do not. Errors name variables and files, never values.
func (c *Config) ResolveSecrets(lookupEnv func(string) (string, bool)) error {
	var errs []error
	apiKey, _ := lookupEnv(envClayAPIKey)
	switch {
	case apiKey != "" && c.Clay.APIKeyFile != "":
		errs = append(errs, fmt.Errorf("%w: %s and clay.api_key_file are both set, use one", ErrInvalid, envClayAPIKey))
	case apiKey != "":
		c.Clay.APIKey = NewSecret(apiKey)
	case c.Clay.APIKeyFile != "":
		secret, err := readSecretFile(c.Clay.APIKeyFile, "clay.api_key_file")
		errs = append(errs, err)
		c.Clay.APIKey = secret
	}
	errs = append(errs, c.Callback.resolveSecret(lookupEnv))
	for _, name := range sortedTableNames(c.Tables) {
		t := c.Tables[name]
		var err error
		switch {
		case t.TokenEnv != "":
			value, _ := lookupEnv(t.TokenEnv)
			if value == "" {
				err = fmt.Errorf("%w tables.%s.token_env: environment variable %s is not set", ErrInvalid, name, t.TokenEnv)
			}
			t.Token = NewSecret(value)
		case t.TokenFile != "":
			t.Token, err = readSecretFile(t.TokenFile, "tables."+name+".token_file")
		}
		errs = append(errs, err)
		c.Tables[name] = t
	}
	return errors.Join(errs...)
}

func sortedTableNames(tables map[string]Table) []string {
	names := make([]string, 0, len(tables))
	for name := range tables {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
