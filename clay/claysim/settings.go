package claysim

import (
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"
)

// settingsUpdate is the body of POST /_sim/config. Absent fields keep
// their value. Durations are Go duration strings such as "250ms".
type settingsUpdate struct {
	// RateLimit is in records per second. A value of 0 or less disables
	// the limit.
	RateLimit    *float64 `json:"rate_limit"`
	Burst        *int     `json:"burst"`
	NoRetryAfter *bool    `json:"no_retry_after"`
	WebhookAck   *string  `json:"webhook_ack"`
	WebhookToken *string  `json:"webhook_token"`
	// MaxBodyBytes is in bytes and MaxRowsPerSource in rows. A value of 0
	// or less disables the check. A new MaxRowsPerSource keeps the rows
	// that each source has accepted so far.
	MaxBodyBytes     *int64 `json:"max_body_bytes"`
	MaxRowsPerSource *int   `json:"max_rows_per_source"`
	CapStatus        *int   `json:"cap_status"`

	// PublicRateLimit is in requests per window, where 0 or less
	// disables the limit. Setting it or PublicRateWindow starts a new
	// window.
	PublicRateLimit      *int    `json:"public_rate_limit"`
	PublicRateWindow     *string `json:"public_rate_window"`
	PublicRetryAfterMode *string `json:"public_retry_after_mode"`

	// Callback settings apply to rows accepted from then on.
	CallbackMode         *string `json:"callback_mode"`
	CallbackDelay        *string `json:"callback_delay"`
	CallbackLateDelay    *string `json:"callback_late_delay"`
	CallbackRetries      *int    `json:"callback_retries"`
	CallbackRetryBackoff *string `json:"callback_retry_backoff"`

	RoutineDelay       *string           `json:"routine_delay"`
	Latency            *string           `json:"latency"`
	LatencyByOperation map[string]string `json:"latency_by_operation"`
}

// settingsView is the body of GET and POST /_sim/config. It shows
// whether a webhook token is set but never the token.
type settingsView struct {
	// RateLimit is in records per second, where 0 means no limit.
	RateLimit       float64 `json:"rate_limit"`
	Burst           int     `json:"burst"`
	NoRetryAfter    bool    `json:"no_retry_after"`
	WebhookAck      string  `json:"webhook_ack"`
	WebhookTokenSet bool    `json:"webhook_token_set"`
	APIKeySet       bool    `json:"api_key_set"`
	// MaxBodyBytes and MaxRowsPerSource are 0 when the check is off.
	MaxBodyBytes     int64 `json:"max_body_bytes"`
	MaxRowsPerSource int   `json:"max_rows_per_source"`
	CapStatus        int   `json:"cap_status"`

	// PublicRateLimit is in requests per window, where 0 means no limit.
	PublicRateLimit      int    `json:"public_rate_limit"`
	PublicRateWindow     string `json:"public_rate_window"`
	PublicRetryAfterMode string `json:"public_retry_after_mode"`

	CallbackMode         string `json:"callback_mode"`
	CallbackDelay        string `json:"callback_delay"`
	CallbackLateDelay    string `json:"callback_late_delay"`
	CallbackRetries      int    `json:"callback_retries"`
	CallbackRetryBackoff string `json:"callback_retry_backoff"`

	RoutineDelay       string            `json:"routine_delay"`
	RoutinePageSize    int               `json:"routine_page_size"`
	Latency            string            `json:"latency"`
	LatencyByOperation map[string]string `json:"latency_by_operation"`
}

func viewSettings(cfg Config) settingsView {
	view := settingsView{
		RateLimit:            max(cfg.RateLimit, 0),
		Burst:                cfg.Burst,
		NoRetryAfter:         cfg.NoRetryAfter,
		WebhookAck:           cfg.WebhookAck,
		WebhookTokenSet:      cfg.WebhookToken != "",
		APIKeySet:            cfg.APIKey != "",
		MaxBodyBytes:         max(cfg.MaxBodyBytes, 0),
		MaxRowsPerSource:     max(cfg.MaxRowsPerSource, 0),
		CapStatus:            cfg.CapStatus,
		PublicRateLimit:      cfg.PublicRateLimit,
		PublicRateWindow:     cfg.PublicRateWindow.String(),
		PublicRetryAfterMode: cfg.PublicRetryAfterMode,
		CallbackMode:         cfg.CallbackMode,
		CallbackDelay:        cfg.CallbackDelay.String(),
		CallbackLateDelay:    cfg.CallbackLateDelay.String(),
		CallbackRetries:      cfg.CallbackRetries,
		CallbackRetryBackoff: cfg.CallbackRetryBackoff.String(),
		RoutineDelay:         cfg.RoutineDelay.String(),
		RoutinePageSize:      cfg.RoutinePageSize,
		Latency:              cfg.Latency.String(),
		LatencyByOperation:   map[string]string{},
	}
	for op, d := range cfg.LatencyByOperation {
		view.LatencyByOperation[op] = d.String()
	}
	return view
}

func (s *Server) handleGetConfig(w http.ResponseWriter, r *http.Request) {
	writeReply(w, jsonReply(http.StatusOK, viewSettings(s.config())))
}

func (s *Server) handlePostConfig(w http.ResponseWriter, r *http.Request) {
	var update settingsUpdate
	if err := decodeAdminBody(w, r, &update); err != nil {
		s.log.Warn().Err(err).Msg("rejected invalid settings body")
		writeReply(w, errorReply(http.StatusBadRequest, "invalid settings: %v", err))
		return
	}
	cfg, err := s.updateSettings(update)
	if err != nil {
		s.log.Warn().Err(err).Msg("rejected invalid settings")
		writeReply(w, errorReply(http.StatusBadRequest, "invalid settings: %v", err))
		return
	}
	s.log.Info().Float64("rate_limit", cfg.RateLimit).Int("burst", cfg.Burst).
		Str("webhook_ack", cfg.WebhookAck).Bool("webhook_token_set", cfg.WebhookToken != "").
		Int64("max_body_bytes", cfg.MaxBodyBytes).Int("cap_status", cfg.CapStatus).
		Int("public_rate_limit", cfg.PublicRateLimit).Dur("public_rate_window", cfg.PublicRateWindow).
		Str("callback_mode", cfg.CallbackMode).Dur("callback_delay", cfg.CallbackDelay).
		Dur("routine_delay", cfg.RoutineDelay).Dur("latency", cfg.Latency).Msg("settings changed")
	writeReply(w, jsonReply(http.StatusOK, viewSettings(cfg)))
}

// updateSettings validates update as a whole and then applies it, so a
// rejected update changes nothing.
func (s *Server) updateSettings(update settingsUpdate) (Config, error) {
	s.settingsMu.Lock()
	defer s.settingsMu.Unlock()
	cfg, err := applyUpdate(s.settings, update)
	if err != nil {
		return Config{}, err
	}
	s.settings = cfg
	s.limiter.SetLimit(recordsLimit(cfg.RateLimit))
	s.limiter.SetBurst(cfg.Burst)
	if update.PublicRateLimit != nil || update.PublicRateWindow != nil {
		s.publicWindow.reset()
	}
	return cfg, nil
}

// applyUpdate returns cfg with update applied, or the error of the first
// invalid setting.
func applyUpdate(cfg Config, update settingsUpdate) (Config, error) {
	steps := []func(*Config, settingsUpdate) error{
		applyWebhookSettings,
		applyPublicSettings,
		applyCallbackSettings,
		applyDurations,
	}
	for _, apply := range steps {
		if err := apply(&cfg, update); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

func applyWebhookSettings(cfg *Config, update settingsUpdate) error {
	if update.RateLimit != nil {
		cfg.RateLimit = *update.RateLimit
		if cfg.RateLimit <= 0 {
			cfg.RateLimit = -1
		}
	}
	if update.Burst != nil {
		if *update.Burst < 1 {
			return fmt.Errorf("burst %d must be 1 or more", *update.Burst)
		}
		cfg.Burst = *update.Burst
	}
	if update.NoRetryAfter != nil {
		cfg.NoRetryAfter = *update.NoRetryAfter
	}
	if update.WebhookAck != nil {
		if *update.WebhookAck == "" || !validAck(*update.WebhookAck) {
			return fmt.Errorf("webhook_ack %q must be %s, %s, %s or %s",
				*update.WebhookAck, AckJSON200, AckEmpty200, AckJSON202, AckHTML200)
		}
		cfg.WebhookAck = *update.WebhookAck
	}
	if update.WebhookToken != nil {
		cfg.WebhookToken = *update.WebhookToken
	}
	return applyWebhookLimits(cfg, update)
}

func applyWebhookLimits(cfg *Config, update settingsUpdate) error {
	if update.MaxBodyBytes != nil {
		cfg.MaxBodyBytes = *update.MaxBodyBytes
		if cfg.MaxBodyBytes <= 0 {
			cfg.MaxBodyBytes = -1
		}
	}
	if update.MaxRowsPerSource != nil {
		cfg.MaxRowsPerSource = *update.MaxRowsPerSource
		if cfg.MaxRowsPerSource <= 0 {
			cfg.MaxRowsPerSource = -1
		}
	}
	if update.CapStatus != nil {
		if !validCapStatus(*update.CapStatus) {
			return fmt.Errorf("cap_status %d must be 400-599", *update.CapStatus)
		}
		cfg.CapStatus = *update.CapStatus
	}
	return nil
}

func applyPublicSettings(cfg *Config, update settingsUpdate) error {
	if update.PublicRateLimit != nil {
		cfg.PublicRateLimit = max(*update.PublicRateLimit, 0)
	}
	if update.PublicRateWindow != nil {
		if err := parseSetting("public_rate_window", *update.PublicRateWindow, &cfg.PublicRateWindow); err != nil {
			return err
		}
		if cfg.PublicRateWindow == 0 {
			return fmt.Errorf("public_rate_window %q must be longer than 0", *update.PublicRateWindow)
		}
	}
	if update.PublicRetryAfterMode != nil {
		mode := *update.PublicRetryAfterMode
		if mode == "" || !validRetryAfterMode(mode) {
			return fmt.Errorf("public_retry_after_mode %q must be %s", mode, retryAfterModeList)
		}
		cfg.PublicRetryAfterMode = mode
	}
	return nil
}

func applyCallbackSettings(cfg *Config, update settingsUpdate) error {
	if update.CallbackMode != nil {
		mode := *update.CallbackMode
		if mode == "" || !validCallbackMode(mode) {
			return fmt.Errorf("callback_mode %q must be %s", mode, callbackModeList)
		}
		cfg.CallbackMode = mode
	}
	if update.CallbackRetries != nil {
		if *update.CallbackRetries < 0 {
			return fmt.Errorf("callback_retries %d must be 0 or more", *update.CallbackRetries)
		}
		cfg.CallbackRetries = *update.CallbackRetries
	}
	durations := []struct {
		name  string
		value *string
		dst   *time.Duration
	}{
		{"callback_delay", update.CallbackDelay, &cfg.CallbackDelay},
		{"callback_late_delay", update.CallbackLateDelay, &cfg.CallbackLateDelay},
		{"callback_retry_backoff", update.CallbackRetryBackoff, &cfg.CallbackRetryBackoff},
	}
	for _, d := range durations {
		if d.value == nil {
			continue
		}
		if err := parseSetting(d.name, *d.value, d.dst); err != nil {
			return err
		}
	}
	return nil
}

func applyDurations(cfg *Config, update settingsUpdate) error {
	if update.RoutineDelay != nil {
		if err := parseSetting("routine_delay", *update.RoutineDelay, &cfg.RoutineDelay); err != nil {
			return err
		}
	}
	if update.Latency != nil {
		if err := parseSetting("latency", *update.Latency, &cfg.Latency); err != nil {
			return err
		}
	}
	if update.LatencyByOperation == nil {
		return nil
	}
	byOperation := maps.Clone(cfg.LatencyByOperation)
	if byOperation == nil {
		byOperation = map[string]time.Duration{}
	}
	for op, value := range update.LatencyByOperation {
		if !validOperation(op) {
			return fmt.Errorf("latency_by_operation has unknown operation %q: use %s", op,
				strings.Join([]string{OpRow, OpRoutine, OpSearch, OpMe}, ", "))
		}
		var d time.Duration
		if err := parseSetting("latency_by_operation."+op, value, &d); err != nil {
			return err
		}
		byOperation[op] = d
	}
	cfg.LatencyByOperation = byOperation
	return nil
}

// parseSetting parses a non-negative Go duration string into dst.
func parseSetting(name, value string, dst *time.Duration) error {
	d, err := time.ParseDuration(value)
	if err != nil || d < 0 {
		return fmt.Errorf("%s %q must be a Go duration of 0 or more, such as \"250ms\"", name, value)
	}
	*dst = d
	return nil
}
