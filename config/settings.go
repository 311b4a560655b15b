package config

import (
	"fmt"
	"reflect"
	"strings"
)

// To add a setting, add a field with a yaml tag to its section struct in
// config.go and give it a default in Default. Then add one entry to
// settings below, map the field onto its component (ProcessorConfig, for
// example) and check its value in Validate. Last, run
// "go test ./config -update" to regenerate the table in
// docs/configuration.md.

// setting describes one scalar setting: its YAML key, flag, environment
// variables and help text. Its type and default come from its Config
// field, found by the YAML key.
type setting struct {
	// key is the setting's YAML path, such as "processor.ack_wait".
	key string
	// flag is the command-line flag without dashes; empty for none.
	flag string
	// envAliases are read after the derived CLAYBRIDGE_* variable.
	envAliases []string
	usage      string
	// secret marks a setting read only from its environment variable, by
	// ResolveSecrets; files and flags cannot set it.
	secret bool
}

// envPrefix starts the environment variable of every setting.
const envPrefix = "CLAYBRIDGE_"

// envConfig names the configuration file, like --config.
const envConfig = envPrefix + "CONFIG"

var settings = []setting{
	{key: "nats.url", flag: "nats-url", envAliases: []string{"NATS_URL"},
		usage: "NATS server URL(s), comma-separated"},
	{key: "nats.embedded", flag: "embedded-nats",
		usage: "start an embedded NATS server with JetStream instead of connecting to one"},
	{key: "nats.listen", flag: "nats-listen", usage: "client address of the embedded NATS server (host:port)"},
	{key: "nats.data_dir", flag: "data-dir", usage: "directory of the embedded NATS server's JetStream files"},
	{key: "nats.sync_always", flag: "nats-sync-always",
		usage: "make the embedded NATS server flush every JetStream write to disk before acknowledging it (slower, survives power loss)"},
	{key: "nats.user", flag: "nats-user",
		usage: "NATS user name, sent with the password; with --embedded-nats the server requires both"},
	{key: "nats.password", secret: true, usage: "NATS password (environment only)"},
	{key: "nats.password_file", flag: "nats-password-file", usage: "file holding the NATS password"},
	{key: "nats.token", secret: true, usage: "NATS authentication token (environment only)"},
	{key: "nats.token_file", flag: "nats-token-file", usage: "file holding the NATS authentication token"},
	{key: "nats.nkey_file", flag: "nats-nkey-file", usage: "file holding the NKey seed (SU...) that authenticates claybridge to NATS"},
	{key: "nats.creds_file", flag: "nats-creds-file", usage: "NATS credentials file (.creds) holding a user JWT and its NKey seed"},
	{key: "nats.tls.ca_file", flag: "nats-tls-ca-file",
		usage: "PEM file of the CAs that verify the NATS server's certificate; any nats.tls setting turns TLS on"},
	{key: "nats.tls.cert_file", flag: "nats-tls-cert-file", usage: "PEM client certificate for NATS servers that verify clients"},
	{key: "nats.tls.key_file", flag: "nats-tls-key-file", usage: "PEM private key of the NATS client certificate"},
	{key: "nats.tls.server_name", flag: "nats-tls-server-name",
		usage: "name expected in the NATS server's certificate; empty means the host of the URL"},

	{key: "clay.url", flag: "clay-url",
		usage: "base URL of Clay for both the webhook and Public API surfaces, for example a standalone claysim; empty means real Clay"},
	{key: "clay.api_key", secret: true, usage: "Clay Public API key (environment only)"},
	{key: "clay.connect_timeout", flag: "connect-timeout", usage: "timeout of dialing Clay and the TLS handshake"},
	{key: "clay.api_key_file", flag: "clay-api-key-file", usage: "file holding the Clay Public API key"},

	{key: "sim.enabled", flag: "sim", usage: "start the Clay simulator in-process and send every Clay call to it"},
	{key: "sim.listen", flag: "sim-listen", usage: "address of the in-process Clay simulator (host:port)"},

	{key: "http.listen", flag: "http-listen", usage: "address serving /healthz, /readyz and /metrics (host:port)"},

	{key: "callback.listen", flag: "callback-listen",
		usage: "address of the listener receiving Clay's callbacks (host:port); it starts when a table sets callback"},
	{key: "callback.public_url", flag: "public-url",
		usage: "base URL Clay posts callbacks to; it must reach every replica's callback listener, for example through a load balancer (with --sim, empty means the listener's own address)"},
	{key: "callback.secret", secret: true, usage: "secret that signs each row's callback token, at least 16 bytes, the same on every replica (environment only)"},
	{key: "callback.secret_file", flag: "callback-secret-file", usage: "file holding the callback secret"},
	{key: "callback.tls_cert_file", flag: "callback-tls-cert-file", usage: "PEM certificate that makes the callback listener serve HTTPS"},
	{key: "callback.tls_key_file", flag: "callback-tls-key-file", usage: "PEM private key of the callback listener's certificate"},

	{key: "log.level", flag: "log-level", usage: "log level: debug, info, warn or error"},
	{key: "log.format", flag: "log-format", usage: "log format: auto (console on a terminal, else JSON), json or console"},

	{key: "processor.workers.critical", flag: "workers-critical", usage: "worker pool size for critical requests"},
	{key: "processor.workers.normal", flag: "workers-normal", usage: "worker pool size for normal requests"},
	{key: "processor.workers.bulk", flag: "workers-bulk", usage: "worker pool size for bulk requests"},
	{key: "processor.rate_limit", flag: "rate-limit", usage: "webhook records per second for the Clay workspace; 0 for no limit"},
	{key: "processor.burst", flag: "burst", usage: "webhook records the budget may spend at once"},
	{key: "processor.ack_wait", flag: "ack-wait", usage: "consumers' ack wait; long calls send InProgress every third of it"},
	{key: "processor.max_deliver", flag: "max-deliver", usage: "deliveries of a request before it is dead-lettered"},
	{key: "processor.request_timeout", flag: "request-timeout", usage: "timeout of one Clay HTTP call"},
	{key: "processor.upload_timeout", flag: "upload-timeout", usage: "timeout of one push of rows to a webhook source"},
	{key: "processor.long_poll_timeout", flag: "long-poll-timeout", usage: "how long a routine run or a row's callback is awaited"},
	{key: "processor.routine_poll_interval", flag: "routine-poll-interval", usage: "wait between polls of a routine run"},
	{key: "processor.batch_linger", flag: "batch-linger",
		usage: "how long a batch of rows for one table, or of items for one routine, waits for more before it is sent (a critical request sends its batch at once)"},
	{key: "processor.retry_base", flag: "retry-base", usage: "first retry delay, doubled per attempt (at least 1s)"},
	{key: "processor.retry_max", flag: "retry-max", usage: "largest retry delay"},
	{key: "processor.heartbeat_interval", flag: "heartbeat-interval", usage: "interval between heartbeats on clay.health.<instance>"},
	{key: "processor.duplicate_window", flag: "duplicate-window", usage: "Nats-Msg-Id dedupe window of streams claybridge creates"},
	{key: "processor.replicas", flag: "replicas", usage: "replicas of streams and buckets claybridge creates: 1 or 3"},
	{key: "processor.migrate", flag: "migrate",
		usage: "apply differences between existing streams, consumers and buckets and these settings; without it they are only reported (a paused consumer stays paused)"},
	{key: "processor.shutdown_grace", flag: "shutdown-grace",
		usage: "how long a shutdown waits for in-flight Clay calls before canceling them (a canceled row or routine that may have reached Clay ends as outcome_unknown)"},
	{key: "processor.breaker.failures", flag: "breaker-failures", usage: "unhealthy Clay outcomes in a row that open a surface's breaker"},
	{key: "processor.breaker.successes", flag: "breaker-successes", usage: "successful probes that close a half-open breaker"},
	{key: "processor.breaker.open_timeout", flag: "breaker-open-timeout", usage: "how long a breaker stays open before it lets a probe through"},
	{key: "processor.probe_interval", flag: "probe-interval", usage: "wait between probes of a hold (401, 402)"},
	{key: "processor.max_parked", flag: "max-parked", usage: "messages parked while holds last; fetching stops at this bound"},
	{key: "processor.retry_after_min", flag: "retry-after-min", usage: "shortest pause honoured from Clay's Retry-After"},
	{key: "processor.retry_after_max", flag: "retry-after-max", usage: "longest pause honoured from Clay's Retry-After"},
	{key: "processor.rate_limit_pause", flag: "rate-limit-pause", usage: "pause after a 429 without Retry-After"},
	{key: "processor.guaranteed_share", flag: "guaranteed-share", usage: "a priority with backlog gets at least one rate token in this many"},
	{key: "processor.lease", flag: "lease", usage: "how long a claim on a request key lasts unless renewed with InProgress"},
	{key: "processor.webhook_cap", flag: "webhook-cap", usage: "lifetime submissions Clay accepts per webhook source"},
	{key: "processor.webhook_warn_ratio", flag: "webhook-warn-ratio", usage: "share of the webhook cap at which the heartbeat turns degraded (0 to 1)"},
	{key: "processor.memory_limit_mb", flag: "memory-limit-mb",
		usage: "soft memory limit of the Go runtime in MiB: 0 means the cache memory budget plus 40, and -1 means none (the GOMEMLIMIT variable overrides it)"},
	{key: "processor.cache.disabled", flag: "cache-disabled", usage: "turn the fallback cache off: no cached or fallback answers"},
	{key: "processor.cache.first_search", flag: "cache-first", usage: "answer a search from a fresh cache entry without calling Clay"},
	{key: "processor.cache.first_routine", flag: "cache-first-routine", usage: "answer a routine from a fresh cache entry without calling Clay"},
	{key: "processor.cache.memory_mb", flag: "cache-memory-mb", usage: "memory budget of the in-process cache tier, in MiB"},
	{key: "processor.cache.fresh_max_age", flag: "cache-fresh-max-age", usage: "age under which a cache entry is fresh"},
	{key: "processor.cache.stale_max_age", flag: "cache-stale-max-age", usage: "age under which a cache entry is stale; older ones are very_stale"},
}

// tableSettings document the keys of one entry under tables. They have no
// flag or environment variable.
var tableSettings = []setting{
	{key: "tables.<name>.webhook_url", usage: "URL of the table's webhook source (required unless --sim or --clay-url is set)"},
	{key: "tables.<name>.token_env", usage: "environment variable holding the webhook token"},
	{key: "tables.<name>.token_file", usage: "file holding the webhook token"},
	{key: "tables.<name>.resend_unknown", usage: "send a row again when its outcome is unknown; safe only when the table auto-dedupes on claybridge_key (default false)"},
	{key: "tables.<name>.callback", usage: "the table's HTTP API column posts each enriched row back, which becomes the row's result; see docs/clay-setup.md (default false)"},
}

// env returns the environment variables of s, the first set one winning.
func (s setting) env() []string {
	derived := envPrefix + strings.ToUpper(strings.ReplaceAll(s.key, ".", "_"))
	return append([]string{derived}, s.envAliases...)
}

// describe names s with every way to set it, for error messages.
func (s setting) describe() string {
	var ways []string
	if s.flag != "" {
		ways = append(ways, "--"+s.flag)
	}
	ways = append(ways, s.env()...)
	return s.key + " (" + strings.Join(ways, ", ") + ")"
}

// field returns the Config field of s in cfg.
func (s setting) field(cfg *Config) reflect.Value {
	v, err := fieldByKey(reflect.ValueOf(cfg).Elem(), s.key)
	if err != nil {
		panic(err)
	}
	return v
}

// fieldByKey follows the yaml tags of v's struct fields along key.
func fieldByKey(v reflect.Value, key string) (reflect.Value, error) {
	for _, name := range strings.Split(key, ".") {
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, fmt.Errorf("config: setting %q: %s is not a section", key, name)
		}
		found := false
		for i := range v.NumField() {
			if yamlName(v.Type().Field(i)) == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}, fmt.Errorf("config: setting %q: no field with yaml key %s", key, name)
		}
	}
	return v, nil
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// lookupSetting returns the setting with key.
func lookupSetting(key string) (setting, bool) {
	for _, s := range settings {
		if s.key == key {
			return s, true
		}
	}
	return setting{}, false
}

// describeKey names the setting with key, or returns key itself.
func describeKey(key string) string {
	if s, ok := lookupSetting(key); ok {
		return s.describe()
	}
	return key
}
