/**
 * Short names for the plain-object ("$Properties") shapes of the v3 messages that the server's
 * request API and the api services pass around, written once here instead of in each file.
 *
 * @module
 */

import type { etcdserverpb } from "./gen/etcd.js";

/** The plain-object shape of `etcdserverpb.AlarmRequest`. */
export type AlarmRequest = etcdserverpb.AlarmRequest.$Properties;

/** The plain-object shape of `etcdserverpb.AlarmResponse`. */
export type AlarmResponse = etcdserverpb.AlarmResponse.$Properties;

/** The plain-object shape of `etcdserverpb.CompactionRequest`. */
export type CompactionRequest = etcdserverpb.CompactionRequest.$Properties;

/** The plain-object shape of `etcdserverpb.CompactionResponse`. */
export type CompactionResponse = etcdserverpb.CompactionResponse.$Properties;

/** The plain-object shape of `etcdserverpb.Compare`. */
export type Compare = etcdserverpb.Compare.$Properties;

/** The plain-object shape of `etcdserverpb.DeleteRangeRequest`. */
export type DeleteRangeRequest = etcdserverpb.DeleteRangeRequest.$Properties;

/** The plain-object shape of `etcdserverpb.DeleteRangeResponse`. */
export type DeleteRangeResponse = etcdserverpb.DeleteRangeResponse.$Properties;

/** The plain-object shape of `etcdserverpb.HashKVRequest`. */
export type HashKVRequest = etcdserverpb.HashKVRequest.$Properties;

/** The plain-object shape of `etcdserverpb.HashKVResponse`. */
export type HashKVResponse = etcdserverpb.HashKVResponse.$Properties;

/** The plain-object shape of `etcdserverpb.HashResponse`. */
export type HashResponse = etcdserverpb.HashResponse.$Properties;

/** The plain-object shape of `etcdserverpb.LeaseGrantRequest`. */
export type LeaseGrantRequest = etcdserverpb.LeaseGrantRequest.$Properties;

/** The plain-object shape of `etcdserverpb.LeaseGrantResponse`. */
export type LeaseGrantResponse = etcdserverpb.LeaseGrantResponse.$Properties;

/** The plain-object shape of `etcdserverpb.LeaseLeasesResponse`. */
export type LeaseLeasesResponse = etcdserverpb.LeaseLeasesResponse.$Properties;

/** The plain-object shape of `etcdserverpb.LeaseRevokeRequest`. */
export type LeaseRevokeRequest = etcdserverpb.LeaseRevokeRequest.$Properties;

/** The plain-object shape of `etcdserverpb.LeaseRevokeResponse`. */
export type LeaseRevokeResponse = etcdserverpb.LeaseRevokeResponse.$Properties;

/** The plain-object shape of `etcdserverpb.LeaseTimeToLiveRequest`. */
export type LeaseTimeToLiveRequest = etcdserverpb.LeaseTimeToLiveRequest.$Properties;

/** The plain-object shape of `etcdserverpb.LeaseTimeToLiveResponse`. */
export type LeaseTimeToLiveResponse = etcdserverpb.LeaseTimeToLiveResponse.$Properties;

/** The plain-object shape of `etcdserverpb.PutRequest`. */
export type PutRequest = etcdserverpb.PutRequest.$Properties;

/** The plain-object shape of `etcdserverpb.PutResponse`. */
export type PutResponse = etcdserverpb.PutResponse.$Properties;

/** The plain-object shape of `etcdserverpb.RangeRequest`. */
export type RangeRequest = etcdserverpb.RangeRequest.$Properties;

/** The plain-object shape of `etcdserverpb.RangeResponse`. */
export type RangeResponse = etcdserverpb.RangeResponse.$Properties;

/** The plain-object shape of `etcdserverpb.RequestOp`. */
export type RequestOp = etcdserverpb.RequestOp.$Properties;

/** The plain-object shape of `etcdserverpb.ResponseHeader`. */
export type ResponseHeader = etcdserverpb.ResponseHeader.$Properties;

/** The plain-object shape of `etcdserverpb.StatusResponse`. */
export type StatusResponse = etcdserverpb.StatusResponse.$Properties;

/** The plain-object shape of `etcdserverpb.TxnRequest`. */
export type TxnRequest = etcdserverpb.TxnRequest.$Properties;

/** The plain-object shape of `etcdserverpb.TxnResponse`. */
export type TxnResponse = etcdserverpb.TxnResponse.$Properties;

/** The plain-object shape of `etcdserverpb.WatchResponse`. */
export type WatchResponse = etcdserverpb.WatchResponse.$Properties;
