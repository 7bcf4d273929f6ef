package dynamo

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/scangate/scangate/domain"
	"github.com/scangate/scangate/domain/errcode"
	"github.com/scangate/scangate/store"
)

// Account, token and release proof keys. Each item has a partition of its
// own, so that Authenticate's GetItem of a token spreads over partitions.
// Accounts and tokens are listed through by-state under a fixed partition
// value (no record state contains '#'), sorted by name or ID; accounts and
// tokens are few and rarely written, so the one partition is never hot.
const (
	accountPrefix     = "account#"
	skAccount         = "account"
	accountsPartition = "account#all"
	tokenPrefix       = "token#"
	skToken           = "token"
	tokensPartition   = "token#all"
	releasePrefix     = "release#"
	skRelease         = "release"
)

// accountItem is an account as stored; State and StateSort are its
// by-state entry (account#all, name).
type accountItem struct {
	PK           string `dynamodbav:"pk"`
	SK           string `dynamodbav:"sk"`
	Name         string `dynamodbav:"name"`
	Role         string `dynamodbav:"role"`
	PasswordHash string `dynamodbav:"passwordHash"`
	CreatedAt    string `dynamodbav:"createdAt"`
	UpdatedAt    string `dynamodbav:"updatedAt"`
	Disabled     bool   `dynamodbav:"disabled,omitempty"`
	State        string `dynamodbav:"state"`
	StateSort    string `dynamodbav:"stateSort"`
}

func toAccountItem(a *domain.Account) accountItem {
	return accountItem{
		PK: accountPrefix + a.Name, SK: skAccount, Name: a.Name, Role: string(a.Role), PasswordHash: a.PasswordHash,
		CreatedAt: fmtTime(a.CreatedAt), UpdatedAt: fmtTime(a.UpdatedAt), Disabled: a.Disabled,
		State: accountsPartition, StateSort: a.Name,
	}
}

func (it *accountItem) domain() (*domain.Account, error) {
	a := &domain.Account{Name: it.Name, Role: domain.Role(it.Role), PasswordHash: it.PasswordHash, Disabled: it.Disabled}
	var err error
	if a.CreatedAt, err = parseTime(it.CreatedAt); err != nil {
		return nil, err
	}
	if a.UpdatedAt, err = parseTime(it.UpdatedAt); err != nil {
		return nil, err
	}
	return a, nil
}

// tokenItem is an API token as stored; State and StateSort are its
// by-state entry (token#all, id).
type tokenItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	ID        string `dynamodbav:"id"`
	Account   string `dynamodbav:"account"`
	Hash      string `dynamodbav:"hash"`
	CreatedAt string `dynamodbav:"createdAt"`
	RevokedAt string `dynamodbav:"revokedAt,omitempty"`
	Label     string `dynamodbav:"label,omitempty"`
	State     string `dynamodbav:"state"`
	StateSort string `dynamodbav:"stateSort"`
}

func toTokenItem(t *domain.APIToken) tokenItem {
	it := tokenItem{
		PK: tokenPrefix + t.ID, SK: skToken, ID: t.ID, Account: t.Account, Hash: t.Hash,
		CreatedAt: fmtTime(t.CreatedAt), Label: t.Label, State: tokensPartition, StateSort: t.ID,
	}
	if t.RevokedAt != nil {
		it.RevokedAt = fmtTime(*t.RevokedAt)
	}
	return it
}

func (it *tokenItem) domain() (*domain.APIToken, error) {
	t := &domain.APIToken{ID: it.ID, Account: it.Account, Hash: it.Hash, Label: it.Label}
	var err error
	if t.CreatedAt, err = parseTime(it.CreatedAt); err != nil {
		return nil, err
	}
	if it.RevokedAt != "" {
		at, err := parseTime(it.RevokedAt)
		if err != nil {
			return nil, err
		}
		t.RevokedAt = &at
	}
	return t, nil
}

// releaseItem is a release proof as stored. It is in no index.
type releaseItem struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Bucket    string `dynamodbav:"bucket"`
	Key       string `dynamodbav:"key"`
	VersionID string `dynamodbav:"versionId"`
	RecordID  string `dynamodbav:"recordId"`
	SHA256    string `dynamodbav:"sha256"`
	Decision  string `dynamodbav:"decision"`
	By        string `dynamodbav:"by"`
	At        string `dynamodbav:"at"`
}

func toReleaseItem(p *domain.ReleaseProof) releaseItem {
	return releaseItem{
		PK: releasePrefix + p.ID(), SK: skRelease, Bucket: p.Bucket, Key: p.Key, VersionID: p.VersionID,
		RecordID: p.RecordID, SHA256: p.SHA256, Decision: string(p.Decision), By: p.By, At: fmtTime(p.At),
	}
}

func (it *releaseItem) domain() (*domain.ReleaseProof, error) {
	p := &domain.ReleaseProof{
		Bucket: it.Bucket, Key: it.Key, VersionID: it.VersionID, RecordID: it.RecordID,
		SHA256: it.SHA256, Decision: domain.Decision(it.Decision), By: it.By,
	}
	var err error
	if p.At, err = parseTime(it.At); err != nil {
		return nil, err
	}
	return p, nil
}

func accountKey(name string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: s(accountPrefix + name), attrSK: s(skAccount)}
}

func tokenKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: s(tokenPrefix + id), attrSK: s(skToken)}
}

func releaseKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: s(releasePrefix + id), attrSK: s(skRelease)}
}

// CreateAccount implements store.Driver: a PutItem conditional on
// attribute_not_exists(pk).
func (d *Driver) CreateAccount(ctx context.Context, a *domain.Account) error {
	const op = "dynamo: create account"
	if a == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil account")
	}
	if err := d.start(ctx, op, a.Name); err != nil {
		return err
	}
	if err := checkAccount(op, a); err != nil {
		return err
	}
	return createItem(ctx, d, op, "create account", a.Name, accountKey(a.Name), toAccountItem(a), noItem)
}

func checkAccount(op string, a *domain.Account) error {
	switch {
	case a.Name == "":
		return errcode.Errorf(errcode.Invalid, op, "", "account has no name")
	case !sortableYear(a.CreatedAt) || !sortableYear(a.UpdatedAt):
		return errcode.Errorf(errcode.Invalid, op, a.Name, "a time is outside the years 0000-9999")
	}
	return nil
}

// GetAccount implements store.Driver.
func (d *Driver) GetAccount(ctx context.Context, name string) (*domain.Account, error) {
	return getAs(ctx, d, "dynamo: get account", "get account", name, accountKey(name), (*accountItem).domain)
}

// UpdateAccount implements store.Driver: a PutItem of the whole account
// conditional on attribute_exists(pk) AND updatedAt = :prev. The times are
// stored with nanoseconds, so the comparison is exact.
func (d *Driver) UpdateAccount(ctx context.Context, a *domain.Account, prevUpdatedAt time.Time) error {
	const op = "dynamo: update account"
	if a == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil account")
	}
	if err := d.start(ctx, op, a.Name); err != nil {
		return err
	}
	if err := checkAccount(op, a); err != nil {
		return err
	}
	if a.UpdatedAt.Equal(prevUpdatedAt) || !sortableYear(prevUpdatedAt) {
		return errcode.Errorf(errcode.Invalid, op, a.Name, "the new UpdatedAt must differ from the one it replaces")
	}
	item, err := attributevalue.MarshalMap(toAccountItem(a))
	if err != nil {
		return errcode.Errorf(errcode.Invalid, op, a.Name, "encode account: %w", err)
	}
	e := newExpr()
	cond := "attribute_exists(" + e.name(attrPK) + ") AND " + e.name(attrUpdatedAt) + " = " +
		e.value("prev", s(fmtTime(prevUpdatedAt)))
	var attempts int32
	out, err := d.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(d.table),
		Item:                                item,
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            e.names,
		ExpressionAttributeValues:           e.values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		ReturnConsumedCapacity:              d.returnConsumed(),
	}, countAttempts(&attempts))
	if ccf, ok := isConditionFailed(err); ok {
		stored, gerr := d.storedAfterFailure(ctx, op, ccf, accountKey(a.Name))
		switch {
		case gerr != nil:
			return gerr
		case stored == nil:
			return errcode.Errorf(errcode.NotFound, op, a.Name, "no such account")
		case attempts > 1 && sameItem[accountItem](op, a.Name, stored, item):
			return nil // our own earlier attempt
		}
		return errcode.Errorf(errcode.ConditionFailed, op, a.Name, "account was updated since %s", fmtTime(prevUpdatedAt))
	}
	if err != nil {
		return d.wrap(ctx, op, a.Name, err)
	}
	d.consumed("update account", true, out.ConsumedCapacity)
	return nil
}

// ListAccounts implements store.Driver: a Query of by-state under
// account#all, then a BatchGetItem of the accounts.
func (d *Driver) ListAccounts(ctx context.Context, page store.Page) ([]*domain.Account, string, error) {
	const op = "dynamo: list accounts"
	return listFixed(ctx, d, op, accountsPartition, accountPrefix, skAccount, page, (*accountItem).domain)
}

// CreateToken implements store.Driver.
func (d *Driver) CreateToken(ctx context.Context, t *domain.APIToken) error {
	const op = "dynamo: create token"
	if t == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil token")
	}
	if err := d.start(ctx, op, t.ID); err != nil {
		return err
	}
	if t.ID == "" || t.Account == "" {
		return errcode.Errorf(errcode.Invalid, op, t.ID, "token has no id or no account")
	}
	if !sortableYear(t.CreatedAt) {
		return errcode.Errorf(errcode.Invalid, op, t.ID, "creation time is outside the years 0000-9999")
	}
	return createItem(ctx, d, op, "create token", t.ID, tokenKey(t.ID), toTokenItem(t), noItem)
}

// GetToken implements store.Driver.
func (d *Driver) GetToken(ctx context.Context, id string) (*domain.APIToken, error) {
	return getAs(ctx, d, "dynamo: get token", "get token", id, tokenKey(id), (*tokenItem).domain)
}

// RevokeToken implements store.Driver: one UpdateItem conditional on
// attribute_exists(pk) AND attribute_not_exists(revokedAt).
func (d *Driver) RevokeToken(ctx context.Context, id string, at time.Time) error {
	const op = "dynamo: revoke token"
	if err := d.start(ctx, op, id); err != nil {
		return err
	}
	if id == "" {
		return errcode.Errorf(errcode.Invalid, op, "", "empty id")
	}
	if !sortableYear(at) {
		return errcode.Errorf(errcode.Invalid, op, id, "revocation time is outside the years 0000-9999")
	}
	e := newExpr()
	update := "SET " + e.name(attrRevokedAt) + " = " + e.value("at", s(fmtTime(at)))
	cond := "attribute_exists(" + e.name(attrPK) + ") AND attribute_not_exists(" + e.name(attrRevokedAt) + ")"
	var attempts int32
	out, err := d.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(d.table),
		Key:                                 tokenKey(id),
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            e.names,
		ExpressionAttributeValues:           e.values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		ReturnConsumedCapacity:              d.returnConsumed(),
	}, countAttempts(&attempts))
	if ccf, ok := isConditionFailed(err); ok {
		stored, gerr := d.storedAfterFailure(ctx, op, ccf, tokenKey(id))
		if gerr != nil {
			return gerr
		}
		if stored == nil {
			return errcode.Errorf(errcode.NotFound, op, id, "no such token")
		}
		t, derr := decodeAs(op, id, stored, (*tokenItem).domain)
		if derr != nil {
			return derr
		}
		if attempts > 1 && t.RevokedAt != nil && fmtTime(*t.RevokedAt) == fmtTime(at) {
			return nil // our own earlier attempt
		}
		return errcode.Errorf(errcode.ConditionFailed, op, id, "token is already revoked")
	}
	if err != nil {
		return d.wrap(ctx, op, id, err)
	}
	d.consumed("revoke token", true, out.ConsumedCapacity)
	return nil
}

// attrRevokedAt is the token attribute RevokeToken sets.
const attrRevokedAt = "revokedAt"

// ListTokens implements store.Driver: a Query of by-state under token#all,
// then a BatchGetItem of the tokens.
func (d *Driver) ListTokens(ctx context.Context, page store.Page) ([]*domain.APIToken, string, error) {
	const op = "dynamo: list tokens"
	return listFixed(ctx, d, op, tokensPartition, tokenPrefix, skToken, page, (*tokenItem).domain)
}

// CreateReleaseProof implements store.Driver: a PutItem conditional on
// attribute_not_exists(pk).
func (d *Driver) CreateReleaseProof(ctx context.Context, p *domain.ReleaseProof) error {
	const op = "dynamo: create release proof"
	if p == nil {
		return errcode.Errorf(errcode.Invalid, op, "", "nil release proof")
	}
	id := p.ID()
	if err := d.start(ctx, op, id); err != nil {
		return err
	}
	if p.Bucket == "" || p.Key == "" || p.VersionID == "" {
		return errcode.Errorf(errcode.Invalid, op, id, "a release proof needs a bucket, a key and a version")
	}
	if !sortableYear(p.At) {
		return errcode.Errorf(errcode.Invalid, op, id, "time is outside the years 0000-9999")
	}
	return createItem(ctx, d, op, "create release proof", id, releaseKey(id), toReleaseItem(p), noItem)
}

// GetReleaseProof implements store.Driver.
func (d *Driver) GetReleaseProof(ctx context.Context, id string) (*domain.ReleaseProof, error) {
	return getAs(ctx, d, "dynamo: get release proof", "get release proof", id, releaseKey(id), (*releaseItem).domain)
}

// listFixed lists the items under one fixed by-state partition, whose sort
// key is the item's name or ID (the rest of its pk after prefix): a Query
// of the KEYS_ONLY index, then a BatchGetItem.
func listFixed[T any, D any](ctx context.Context, d *Driver, op, partition, prefix, sk string, page store.Page, conv func(*T) (D, error)) ([]D, string, error) {
	if err := d.start(ctx, op, ""); err != nil {
		return nil, "", err
	}
	e := newExpr()
	in := &dynamodb.QueryInput{
		TableName:              aws.String(d.table),
		IndexName:              aws.String(IndexByState),
		KeyConditionExpression: aws.String(e.name(attrState) + " = " + e.value("state", s(partition))),
		Limit:                  aws.Int32(int32(page.Size() + 1)),
		ReturnConsumedCapacity: d.returnConsumed(),
	}
	in.ExpressionAttributeNames, in.ExpressionAttributeValues = e.names, e.values
	if page.Cursor != "" {
		last, err := decodeCursor(op, partition, page.Cursor)
		if err != nil {
			return nil, "", err
		}
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			attrPK: s(prefix + last), attrSK: s(sk), attrState: s(partition), attrStateSort: s(last),
		}
	}
	out, err := d.client.Query(ctx, in)
	if err != nil {
		return nil, "", d.wrap(ctx, op, "", err)
	}
	d.consumed(op, false, out.ConsumedCapacity)
	var sorts []string
	for _, it := range out.Items {
		v, ok := it[attrStateSort].(*types.AttributeValueMemberS)
		if !ok || v.Value == "" {
			return nil, "", errcode.Errorf(errcode.Unknown, op, "", "index entry without %s", attrStateSort)
		}
		sorts = append(sorts, v.Value)
	}
	cursor := ""
	switch size := page.Size(); {
	case len(sorts) > size:
		sorts = sorts[:size]
		cursor = encodeCursor(partition, sorts[size-1])
	case out.LastEvaluatedKey != nil && len(sorts) > 0:
		cursor = encodeCursor(partition, sorts[len(sorts)-1])
	case out.LastEvaluatedKey != nil:
		if v, ok := out.LastEvaluatedKey[attrStateSort].(*types.AttributeValueMemberS); ok && v.Value != "" {
			cursor = encodeCursor(partition, v.Value)
		}
	}
	keys := make([]map[string]types.AttributeValue, len(sorts))
	for i, v := range sorts {
		keys[i] = map[string]types.AttributeValue{attrPK: s(prefix + v), attrSK: s(sk)}
	}
	items, err := d.batchGet(ctx, op, keys)
	if err != nil {
		return nil, "", err
	}
	res := make([]D, 0, len(sorts))
	for _, v := range sorts {
		raw, ok := items[prefix+v]
		if !ok {
			continue // deleted meanwhile
		}
		x, err := decodeAs(op, v, raw, conv)
		if err != nil {
			return nil, "", err
		}
		res = append(res, x)
	}
	return res, cursor, nil
}
