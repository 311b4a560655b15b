package processor

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/claybridge/claybridge/callback"
	"github.com/claybridge/claybridge/clay"
	"github.com/claybridge/claybridge/subjects"
)

// webhookAck is the result data of a pushed row: Clay only acknowledges it.
type webhookAck struct {
	HTTPStatus int             `json:"http_status"`
	Body       json.RawMessage `json:"body"`
}

// pushRow adds the row to its table's batch and returns the outcome of
// the batch's POST. A row of a table that calls back carries its callback
// URL and token, and its outcome is a pending record instead of a result.
func (p *Processor) pushRow(ctx context.Context, j *job, req *subjects.Request) (*outcome, error) {
	table := req.Row.Table
	if _, err := p.webhookFor(table); err != nil {
		return nil, err
	}

	row := maps.Clone(req.Row.Row)
	row[subjects.RowKeyColumn] = req.Key
	awaited := p.cfg.Tables[table].Callback
	if awaited {
		row[subjects.RowCallbackURLColumn] = callback.URL(p.cfg.CallbackURL, req.Key)
		row[subjects.RowCallbackTokenColumn] = callback.Token(p.cfg.CallbackSecret, req.Key)
	}
	encoded, err := json.Marshal(row)
	if err != nil {
		return nil, fmt.Errorf("%w: encode row: %v", subjects.ErrInvalidRequest, err)
	}
	if len(encoded) > clay.MaxBody {
		return nil, &clay.Error{Op: "webhook", Kind: clay.KindTooLarge,
			Message: fmt.Sprintf("row is %d bytes, over Clay's limit of %d", len(encoded), clay.MaxBody)}
	}

	b := batcherFor(&p.rowBatches, table, func() *batcher {
		return &batcher{maxItems: maxBatchRows, maxBytes: maxBatchBytes, linger: p.cfg.BatchLinger,
			send: func(ctx context.Context, items []*batchItem) { p.sendRows(ctx, table, items) }}
	})
	res := b.submit(ctx, newBatchItem(j, row, len(encoded)))
	if res.err != nil {
		return nil, res.err
	}

	out := &outcome{data: res.data}
	if awaited {
		out.pending = p.newPending(j, pendingCallback)
	}
	return out, nil
}

// sendRows marks each row sent and posts the rows to the table's webhook
// source, splitting the batch when Clay rejects it.
func (p *Processor) sendRows(ctx context.Context, table string, items []*batchItem) {
	hook, err := p.webhookFor(table)
	if err != nil {
		for _, it := range items {
			it.finish(batchResult{err: err})
		}
		return
	}
	items = p.markBatchSent(ctx, items)
	if len(items) == 0 {
		return
	}
	p.sendSplitting(ctx, subjects.Row, items, func(ctx context.Context, items []*batchItem) (batchResult, error) {
		rows := make([]map[string]any, len(items))
		for i, it := range items {
			rows[i] = it.payload.(map[string]any)
		}
		p.metrics.batchSize.WithLabelValues(string(subjects.Row)).Observe(float64(len(rows)))
		resp, err := withinDeadline(ctx, time.Time{}, p.cfg.UploadTimeout, func(ctx context.Context) (*clay.Response, error) {
			return p.clay.PushRows(ctx, hook, rows)
		})
		if err != nil {
			return batchResult{}, err
		}
		p.counted.add(table, len(rows))
		data, err := json.Marshal(webhookAck{HTTPStatus: resp.Status, Body: resp.JSON()})
		return batchResult{data: data}, err
	})
}

// searchData is the result data of a search.
type searchData struct {
	SourceType string            `json:"source_type"`
	Results    []json.RawMessage `json:"results"`
}

func (p *Processor) search(ctx context.Context, j *job, req *subjects.Request) (json.RawMessage, error) {
	results, err := within(ctx, j, p.cfg.RequestTimeout, func(ctx context.Context) ([]json.RawMessage, error) {
		return p.clay.Search(ctx, req.Search.SourceType, req.Search.Filters, req.Search.Limit, req.Key)
	})
	if err != nil {
		return nil, err
	}
	if results == nil {
		results = []json.RawMessage{}
	}
	return json.Marshal(searchData{SourceType: req.Search.SourceType, Results: results})
}
