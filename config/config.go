// Package config loads claybridge's settings from built-in defaults, a
// YAML file, CLAYBRIDGE_* environment variables and command-line flags, in
// rising precedence, validates them once and maps them onto the
// components' configurations. Secrets come only from the environment or
// from files, and every printed form of them is redacted.
package config

import (
	"time"

	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/fallback"
	"github.com/claybridge/claybridge/internal/logging"
	"github.com/claybridge/claybridge/ledger"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// Config is every claybridge setting, in the shape of the YAML file.
// Load starts from Default, so a key missing from every source keeps its
// default; the sections are not meant to be used with zero values.
type Config struct {
	NATS      NATS      `yaml:"nats"`
	Clay      Clay      `yaml:"clay"`
	Sim       Sim       `yaml:"sim"`
	HTTP      HTTP      `yaml:"http"`
	Callback  Callback  `yaml:"callback"`
	Log       Log       `yaml:"log"`
	Processor Processor `yaml:"processor"`
	// Tables maps a table name, as row requests give it, to its Clay
	// webhook source.
	Tables map[string]Table `yaml:"tables"`
}

// NATS contains the settings of the NATS connection.
type NATS struct {
	// URL lists NATS server URLs, comma-separated. Default empty: run
	// then needs Embedded, and client commands use nats://127.0.0.1:4222.
	URL string `yaml:"url"`
	// Embedded starts an in-process NATS server, default false.
	Embedded bool `yaml:"embedded"`
	// Listen is the embedded server's client address, default
	// 127.0.0.1:4222.
	Listen string `yaml:"listen"`
	// DataDir holds the embedded server's JetStream files, default ./data.
	DataDir string `yaml:"data_dir"`
	// SyncAlways makes the embedded server flush every JetStream write to
	// disk before acknowledging it, default off.
	SyncAlways bool `yaml:"sync_always"`
	// User is the user name sent with Password, default empty. With
	// Embedded, the server requires this user and password of every client.
	User string `yaml:"user"`
	// Password is set by Load from CLAYBRIDGE_NATS_PASSWORD or
	// PasswordFile; a YAML file cannot set it.
	Password Secret `yaml:"password,omitempty"`
	// PasswordFile is a file holding the password, default empty.
	PasswordFile string `yaml:"password_file"`
	// Token is an authentication token, set by Load from
	// CLAYBRIDGE_NATS_TOKEN or TokenFile; a YAML file cannot set it.
	Token Secret `yaml:"token,omitempty"`
	// TokenFile is a file holding the token, default empty.
	TokenFile string `yaml:"token_file"`
	// NKeyFile holds the NKey seed claybridge signs the server's
	// challenge with, default empty.
	NKeyFile string `yaml:"nkey_file"`
	// CredsFile is a credentials file (.creds) with a user JWT and its
	// NKey seed, default empty.
	CredsFile string  `yaml:"creds_file"`
	TLS       NATSTLS `yaml:"tls"`
}

// NATSTLS is the TLS of the NATS connection. Setting any field turns TLS
// on; a tls:// URL turns it on with the system's CAs.
type NATSTLS struct {
	// CAFile is a PEM file of the CAs that verify the server's
	// certificate, default empty: the system's CAs.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the PEM client certificate and its key,
	// for servers that verify clients.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name expected in the server's certificate,
	// default the host of the URL.
	ServerName string `yaml:"server_name"`
}

// Enabled reports whether any TLS setting is set.
func (t NATSTLS) Enabled() bool { return t != NATSTLS{} }

// Clay contains the settings of the Clay connection.
type Clay struct {
	// URL is the base URL of both Clay surfaces. Default empty, which
	// means real Clay (clay.DefaultBaseURL) unless the simulator runs.
	URL string `yaml:"url"`
	// APIKeyFile is a file holding the Public API key, default empty.
	APIKeyFile string `yaml:"api_key_file"`
	// APIKey is the Public API key. ResolveSecrets reads it from
	// CLAYBRIDGE_CLAY_API_KEY or APIKeyFile; a YAML file cannot set it.
	APIKey Secret `yaml:"api_key,omitempty"`
	// ConnectTimeout bounds dialing Clay and the TLS handshake.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
}

// Sim is the in-process Clay simulator.
type Sim struct {
	// Enabled starts the simulator and sends every Clay call to it,
	// default false.
	Enabled bool `yaml:"enabled"`
	// Listen is the simulator's address, default 127.0.0.1:8089.
	Listen string `yaml:"listen"`
}

// HTTP is the listener of /healthz, /readyz and /metrics.
type HTTP struct {
	// Listen is its address, default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
}

// Log is the log output.
type Log struct {
	// Level is debug, info, warn or error, default info.
	Level string `yaml:"level"`
	// Format is auto, json or console, default auto.
	Format string `yaml:"format"`
}

// Processor contains the settings of request processing. Their defaults
// are the processor package's.
type Processor struct {
	Workers Workers `yaml:"workers"`
	// RateLimit is the webhook budget in records per second; 0 means no
	// limit.
	RateLimit           float64       `yaml:"rate_limit"`
	Burst               int           `yaml:"burst"`
	AckWait             time.Duration `yaml:"ack_wait"`
	MaxDeliver          int           `yaml:"max_deliver"`
	RequestTimeout      time.Duration `yaml:"request_timeout"`
	UploadTimeout       time.Duration `yaml:"upload_timeout"`
	LongPollTimeout     time.Duration `yaml:"long_poll_timeout"`
	RoutinePollInterval time.Duration `yaml:"routine_poll_interval"`
	BatchLinger         time.Duration `yaml:"batch_linger"`
	RetryBase           time.Duration `yaml:"retry_base"`
	RetryMax            time.Duration `yaml:"retry_max"`
	HeartbeatInterval   time.Duration `yaml:"heartbeat_interval"`
	DuplicateWindow     time.Duration `yaml:"duplicate_window"`
	Replicas            int           `yaml:"replicas"`
	// Migrate applies differences between existing streams, consumers and
	// buckets and these settings; without it they are only reported.
	Migrate bool `yaml:"migrate"`
	// ShutdownGrace is how long a shutdown waits for in-flight Clay calls.
	ShutdownGrace   time.Duration `yaml:"shutdown_grace"`
	Breaker         Breaker       `yaml:"breaker"`
	ProbeInterval   time.Duration `yaml:"probe_interval"`
	MaxParked       int           `yaml:"max_parked"`
	RetryAfterMin   time.Duration `yaml:"retry_after_min"`
	RetryAfterMax   time.Duration `yaml:"retry_after_max"`
	RateLimitPause  time.Duration `yaml:"rate_limit_pause"`
	GuaranteedShare int           `yaml:"guaranteed_share"`
	// Lease is how long a claim on a request key lasts unless renewed.
	Lease time.Duration `yaml:"lease"`
	// WebhookCap is the lifetime submissions of one webhook source.
	WebhookCap       int     `yaml:"webhook_cap"`
	WebhookWarnRatio float64 `yaml:"webhook_warn_ratio"`
	// MemoryLimitMB is the Go runtime's soft memory limit in MiB; 0
	// derives it from the cache budget and -1 sets none.
	MemoryLimitMB int   `yaml:"memory_limit_mb"`
	Cache         Cache `yaml:"cache"`
}

// Cache is the fallback cache: which operations it answers first, and its
// memory budget and staleness thresholds.
type Cache struct {
	Disabled     bool          `yaml:"disabled"`
	FirstSearch  bool          `yaml:"first_search"`
	FirstRoutine bool          `yaml:"first_routine"`
	MemoryMB     int           `yaml:"memory_mb"`
	FreshMaxAge  time.Duration `yaml:"fresh_max_age"`
	StaleMaxAge  time.Duration `yaml:"stale_max_age"`
}

// Breaker is the circuit breaker of each Clay surface.
type Breaker struct {
	Failures    int           `yaml:"failures"`
	Successes   int           `yaml:"successes"`
	OpenTimeout time.Duration `yaml:"open_timeout"`
}

// Workers is the worker pool size per priority.
type Workers struct {
	Critical int `yaml:"critical"`
	Normal   int `yaml:"normal"`
	Bulk     int `yaml:"bulk"`
}

// Table is a Clay table's webhook source.
type Table struct {
	// WebhookURL is the source's URL. Clay treats it as a credential, so
	// printed configurations show only its scheme and host.
	WebhookURL string `yaml:"webhook_url"`
	// TokenEnv names the environment variable holding the source's token.
	TokenEnv string `yaml:"token_env,omitempty"`
	// TokenFile is a file holding the source's token.
	TokenFile string `yaml:"token_file,omitempty"`
	// Token is set by ResolveSecrets from TokenEnv or TokenFile; a YAML
	// file cannot set it.
	Token Secret `yaml:"token,omitempty"`
	// ResendUnknown lets a row whose outcome is unknown be sent again,
	// which is safe when the table auto-dedupes on claybridge_key.
	ResendUnknown bool `yaml:"resend_unknown,omitempty"`
	// Callback marks a table whose HTTP API column posts each enriched
	// row back to the callback listener; the row's result is that post.
	Callback bool `yaml:"callback,omitempty"`
}

// DefaultShutdownGrace is the default of processor.shutdown_grace.
const DefaultShutdownGrace = 25 * time.Second

// Default returns the built-in defaults of every setting.
func Default() Config {
	workers := processor.DefaultWorkers()
	return Config{
		NATS:     NATS{Listen: "127.0.0.1:4222", DataDir: "./data"},
		Sim:      Sim{Listen: "127.0.0.1:8089"},
		Clay:     Clay{ConnectTimeout: clay.DefaultConnectTimeout},
		HTTP:     HTTP{Listen: "127.0.0.1:8080"},
		Callback: Callback{Listen: DefaultCallbackListen},
		Log:      Log{Level: "info", Format: logging.FormatAuto},
		Processor: Processor{
			Workers: Workers{
				Critical: workers[subjects.Critical],
				Normal:   workers[subjects.Normal],
				Bulk:     workers[subjects.Bulk],
			},
			RateLimit:           processor.DefaultRateLimit,
			Burst:               processor.DefaultBurst,
			AckWait:             processor.DefaultAckWait,
			MaxDeliver:          processor.DefaultMaxDeliver,
			RequestTimeout:      processor.DefaultRequestTimeout,
			UploadTimeout:       processor.DefaultUploadTimeout,
			LongPollTimeout:     processor.DefaultLongPollTimeout,
			RoutinePollInterval: processor.DefaultRoutinePollInterval,
			BatchLinger:         processor.DefaultBatchLinger,
			RetryBase:           processor.DefaultRetryBase,
			RetryMax:            processor.DefaultRetryMax,
			HeartbeatInterval:   processor.DefaultHeartbeatInterval,
			DuplicateWindow:     processor.DefaultDuplicateWindow,
			Replicas:            1,
			ShutdownGrace:       DefaultShutdownGrace,
			Breaker: Breaker{
				Failures:    processor.DefaultBreakerFailures,
				Successes:   processor.DefaultBreakerSuccesses,
				OpenTimeout: processor.DefaultBreakerOpenTimeout,
			},
			ProbeInterval:    processor.DefaultProbeInterval,
			MaxParked:        processor.DefaultMaxParked,
			RetryAfterMin:    processor.DefaultRetryAfterMin,
			RetryAfterMax:    processor.DefaultRetryAfterMax,
			RateLimitPause:   processor.DefaultRateLimitPause,
			GuaranteedShare:  processor.DefaultGuaranteedShare,
			Lease:            ledger.DefaultLease,
			WebhookCap:       processor.DefaultWebhookCap,
			WebhookWarnRatio: processor.DefaultWebhookWarnRatio,
			Cache: Cache{
				FirstSearch: true,
				MemoryMB:    fallback.DefaultMemoryMaxBytes >> 20,
				FreshMaxAge: fallback.DefaultFreshMaxAge,
				StaleMaxAge: fallback.DefaultStaleMaxAge,
			},
		},
	}
}

// maxMemoryLimitMB bounds processor.memory_limit_mb at 1 TiB, far above
// any real limit and far below an overflow of the limit in bytes.
const maxMemoryLimitMB = 1 << 20

// memoryHeadroomMB is the part of the derived memory limit above the
// cache's memory budget, for the rest of the heap, goroutine stacks and
// the runtime's own structures.
const memoryHeadroomMB = 40

// MemoryLimit returns the soft memory limit for the Go runtime in bytes,
// or 0 for none. With processor.memory_limit_mb at 0 it is the cache's
// memory budget plus a fixed headroom, so that a full cache does not let
// the heap grow to twice its live size between collections.
func (c *Config) MemoryLimit() int64 {
	mb := c.Processor.MemoryLimitMB
	switch {
	case mb < 0:
		return 0
	case mb == 0 && c.Processor.Cache.Disabled:
		return 0
	case mb == 0:
		mb = c.Processor.Cache.MemoryMB + memoryHeadroomMB
	}
	return int64(mb) << 20
}

// ProcessorConfig returns the processor's configuration with the tables'
// webhooks and their resolved tokens. The caller sets Logger, Registerer
// and DefaultWebhookBase, and HasAPIKey when the simulator supplies the key.
func (c *Config) ProcessorConfig() processor.Config {
	p := c.Processor
	cfg := processor.Config{
		Workers: map[subjects.Priority]int{
			subjects.Critical: p.Workers.Critical,
			subjects.Normal:   p.Workers.Normal,
			subjects.Bulk:     p.Workers.Bulk,
		},
		AckWait:             p.AckWait,
		MaxDeliver:          p.MaxDeliver,
		Replicas:            p.Replicas,
		Migrate:             p.Migrate,
		DuplicateWindow:     p.DuplicateWindow,
		RateLimit:           p.RateLimit,
		Burst:               p.Burst,
		RequestTimeout:      p.RequestTimeout,
		UploadTimeout:       p.UploadTimeout,
		LongPollTimeout:     p.LongPollTimeout,
		RoutinePollInterval: p.RoutinePollInterval,
		BatchLinger:         p.BatchLinger,
		CallbackURL:         c.Callback.PublicURL,
		RetryBase:           p.RetryBase,
		RetryMax:            p.RetryMax,
		HeartbeatInterval:   p.HeartbeatInterval,
		BreakerFailures:     p.Breaker.Failures,
		BreakerSuccesses:    p.Breaker.Successes,
		BreakerOpenTimeout:  p.Breaker.OpenTimeout,
		ProbeInterval:       p.ProbeInterval,
		MaxParked:           p.MaxParked,
		RetryAfterMin:       p.RetryAfterMin,
		RetryAfterMax:       p.RetryAfterMax,
		RateLimitPause:      p.RateLimitPause,
		GuaranteedShare:     p.GuaranteedShare,
		Lease:               p.Lease,
		WebhookCap:          int64(p.WebhookCap),
		WebhookWarnRatio:    p.WebhookWarnRatio,
		HasAPIKey:           !c.Clay.APIKey.IsZero(),
		CacheDisabled:       p.Cache.Disabled,
		CacheFirst: map[subjects.Operation]bool{
			subjects.Search:  p.Cache.FirstSearch,
			subjects.Routine: p.Cache.FirstRoutine,
		},
		Cache: fallback.Config{
			MemoryMaxBytes: int64(p.Cache.MemoryMB) << 20,
			FreshMaxAge:    p.Cache.FreshMaxAge,
			StaleMaxAge:    p.Cache.StaleMaxAge,
		},
	}
	if p.RateLimit == 0 {
		cfg.RateLimit = processor.Unlimited
	}
	if !c.Callback.Secret.IsZero() {
		cfg.CallbackSecret = []byte(c.Callback.Secret.Reveal())
	}
	if len(c.Tables) > 0 {
		cfg.Tables = make(map[string]processor.Table, len(c.Tables))
	}
	for name, t := range c.Tables {
		cfg.Tables[name] = processor.Table{
			Webhook:       clay.Webhook{URL: t.WebhookURL, Token: t.Token.Reveal()},
			ResendUnknown: t.ResendUnknown,
			Callback:      t.Callback,
		}
	}
	return cfg
}
