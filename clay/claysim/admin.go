package claysim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"time"
)

// maxAdminBodyBytes bounds the bodies of /_sim/ requests.
const maxAdminBodyBytes = 64 * 1024

func (s *Server) handleGetStats(w http.ResponseWriter, r *http.Request) {
	writeReply(w, jsonReply(http.StatusOK, s.Stats()))
}

func (s *Server) handleDeleteStats(w http.ResponseWriter, r *http.Request) {
	s.ResetStats()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleGetFaults(w http.ResponseWriter, r *http.Request) {
	writeReply(w, jsonReply(http.StatusOK, map[string]any{"faults": s.faults.list(time.Now())}))
}

func (s *Server) handlePostFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if err := decodeAdminBody(w, r, &f); err != nil {
		s.log.Warn().Err(err).Msg("rejected invalid fault body")
		writeReply(w, errorReply(http.StatusBadRequest, "invalid fault: %v", err))
		return
	}
	if err := f.validate(); err != nil {
		s.log.Warn().Err(err).Msg("rejected invalid fault")
		writeReply(w, errorReply(http.StatusBadRequest, "%v", err))
		return
	}
	s.AddFault(f)
	writeReply(w, jsonReply(http.StatusCreated, map[string]any{"faults": s.faults.list(time.Now())}))
}

func (s *Server) handleDeleteFaults(w http.ResponseWriter, r *http.Request) {
	s.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}

// decodeAdminBody decodes a JSON body into v, rejecting unknown fields so
// that a misspelt setting does not pass silently.
func decodeAdminBody(w http.ResponseWriter, r *http.Request, v any) error {
	decoder := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAdminBodyBytes))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("the body is empty")
		}
		return err
	}
	return nil
}

// settingsUpdate is the body of POST /_sim/config. Absent fields keep
// their value. Durations are Go duration strings such as "250ms".
type settingsUpdate struct {
	// RateLimit is in records per second. A value of 0 or less disables
	// the limit.
	RateLimit          *float64          `json:"rate_limit"`
	Burst              *int              `json:"burst"`
	NoRetryAfter       *bool             `json:"no_retry_after"`
	WebhookAck         *string           `json:"webhook_ack"`
	WebhookToken       *string           `json:"webhook_token"`
	RoutineDelay       *string           `json:"routine_delay"`
	Latency            *string           `json:"latency"`
	LatencyByOperation map[string]string `json:"latency_by_operation"`
}

// settingsView is the body of GET and POST /_sim/config. It shows
// whether a webhook token is set but never the token.
type settingsView struct {
	// RateLimit is in records per second, where 0 means no limit.
	RateLimit          float64           `json:"rate_limit"`
	Burst              int               `json:"burst"`
	NoRetryAfter       bool              `json:"no_retry_after"`
	WebhookAck         string            `json:"webhook_ack"`
	WebhookTokenSet    bool              `json:"webhook_token_set"`
	APIKeySet          bool              `json:"api_key_set"`
	MaxBodyBytes       int64             `json:"max_body_bytes"`
	MaxRowsPerSource   int               `json:"max_rows_per_source"`
	RoutineDelay       string            `json:"routine_delay"`
	RoutinePageSize    int               `json:"routine_page_size"`
	Latency            string            `json:"latency"`
	LatencyByOperation map[string]string `json:"latency_by_operation"`
}

func viewSettings(cfg Config) settingsView {
	view := settingsView{
		RateLimit:          max(cfg.RateLimit, 0),
		Burst:              cfg.Burst,
		NoRetryAfter:       cfg.NoRetryAfter,
		WebhookAck:         cfg.WebhookAck,
		WebhookTokenSet:    cfg.WebhookToken != "",
		APIKeySet:          cfg.APIKey != "",
		MaxBodyBytes:       cfg.MaxBodyBytes,
		MaxRowsPerSource:   cfg.MaxRowsPerSource,
		RoutineDelay:       cfg.RoutineDelay.String(),
		RoutinePageSize:    cfg.RoutinePageSize,
		Latency:            cfg.Latency.String(),
		LatencyByOperation: map[string]string{},
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
	return cfg, nil
}

func applyUpdate(cfg Config, update settingsUpdate) (Config, error) {
	if update.RateLimit != nil {
		cfg.RateLimit = *update.RateLimit
		if cfg.RateLimit <= 0 {
			cfg.RateLimit = -1
		}
	}
	if update.Burst != nil {
		if *update.Burst < 1 {
			return cfg, fmt.Errorf("burst %d must be 1 or more", *update.Burst)
		}
		cfg.Burst = *update.Burst
	}
	if update.NoRetryAfter != nil {
		cfg.NoRetryAfter = *update.NoRetryAfter
	}
	if update.WebhookAck != nil {
		if *update.WebhookAck == "" || !validAck(*update.WebhookAck) {
			return cfg, fmt.Errorf("webhook_ack %q must be %s, %s, %s or %s",
				*update.WebhookAck, AckJSON200, AckEmpty200, AckJSON202, AckHTML200)
		}
		cfg.WebhookAck = *update.WebhookAck
	}
	if update.WebhookToken != nil {
		cfg.WebhookToken = *update.WebhookToken
	}
	if err := applyDurations(&cfg, update); err != nil {
		return cfg, err
	}
	return cfg, nil
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
