package clay

import (
	"context"
	"encoding/json"
	"fmt"
)

// Webhook is a table's webhook source.
type Webhook struct {
	// URL is the source's URL; it is a credential and is never logged.
	URL string
	// Token, when set, goes in the x-clay-webhook-auth header.
	Token string
}

// PushRows posts rows to a webhook source: one object for one row, an array
// for several. Clay only acknowledges receipt; enrichment happens later.
func (c *Client) PushRows(ctx context.Context, hook Webhook, rows []map[string]any) (*Response, error) {
	var payload any = rows
	if len(rows) == 1 {
		payload = rows[0]
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, &Error{Op: "webhook", Kind: KindRejected, Message: fmt.Sprintf("encode rows: %v", err), Err: err}
	}
	return c.do(ctx, call{
		surface: SurfaceWebhook, op: "webhook", method: "POST", url: hook.URL, body: body,
		headers: map[string]string{HeaderWebhookAuth: hook.Token},
	})
}
