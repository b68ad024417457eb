/* fixlua — the built-in dictionary: what a session needs when no dictionary file is given.
 *
 * Two compact tables, written for this project, describe the FIX 4.0-4.4 and FIXT.1.1 session
 * layer (header, trailer, messages 0-5, A and BusinessMessageReject j) and the common order and
 * market-data messages (D, F, G, H, 8, 9, V, W, X, Y) with their fields and the enum names
 * scripts use ("BUY", "LIMIT", "TRADE"). One table serves every version: an item, field or enum
 * value may carry a version gate, "@+43" (FIX.4.3 and later) or "@-44" (before FIX.4.4), where
 * FIXT.1.1 counts as 50. The tables are read into the same builder as XML dictionaries
 * (fl_dict.c), so the result is an ordinary dictionary.
 *
 * Field lines:     TAG Name TYPE[~][@gate] [VALUE=NAME[@gate] ...]
 *                  "~" marks an enum list that names the common values only: values outside
 *                  it are not rejected (the application messages evolve too much for a short
 *                  table to be exhaustive); session-layer enums are complete and checked.
 * Container lines: header: ... | trailer: ... | *Component: ... | TYPE Name admin|app[@gate]: ...
 *                  followed by items, continued on lines that start with a space. An item is
 *                  Name (field), *Name (component) or Name { ... } (group, named by its
 *                  NumInGroup field), each with an optional "!" (required) and gate.
 * Application messages and all groups here are open (see fl_dict.h): a message or group entry
 * may carry fields the table does not list; listed fields, groups and required fields are
 * checked. */
#include "fl_dict_impl.h"

#include <string.h>

static const char builtin_fields[] =
    "1 Account STRING\n"
    "6 AvgPx PRICE\n"
    "7 BeginSeqNo SEQNUM\n"
    "8 BeginString STRING\n"
    "9 BodyLength LENGTH\n"
    "10 CheckSum STRING\n"
    "11 ClOrdID STRING\n"
    "12 Commission AMT\n"
    "13 CommType CHAR~ 1=PER_UNIT 2=PERCENT 3=ABSOLUTE\n"
    "14 CumQty QTY\n"
    "15 Currency CURRENCY\n"
    "16 EndSeqNo SEQNUM\n"
    "17 ExecID STRING\n"
    "18 ExecInst MULTIPLEVALUESTRING~ 0=STAY_ON_OFFER_SIDE 1=NOT_HELD 2=WORK 3=GO_ALONG\n"
    "  4=OVER_THE_DAY 5=HELD 6=PARTICIPATE_DO_NOT_INITIATE 7=STRICT_SCALE 8=TRY_TO_SCALE\n"
    "  9=STAY_ON_BID_SIDE A=NO_CROSS B=OK_TO_CROSS C=CALL_FIRST D=PERCENT_OF_VOLUME\n"
    "  E=DO_NOT_INCREASE F=DO_NOT_REDUCE G=ALL_OR_NONE\n"
    "19 ExecRefID STRING\n"
    "20 ExecTransType CHAR@-44 0=NEW 1=CANCEL 2=CORRECT 3=STATUS\n"
    "21 HandlInst CHAR 1=AUTOMATED_EXECUTION_NO_INTERVENTION\n"
    "  2=AUTOMATED_EXECUTION_INTERVENTION_OK 3=MANUAL_ORDER\n"
    "22 IDSource STRING~@-43 1=CUSIP 2=SEDOL 3=QUIK 4=ISIN_NUMBER 5=RIC_CODE\n"
    "  6=ISO_CURRENCY_CODE 7=ISO_COUNTRY_CODE 8=EXCHANGE_SYMBOL 9=CONSOLIDATED_TAPE_ASSOCIATION\n"
    "22 SecurityIDSource STRING~@+43 1=CUSIP 2=SEDOL 3=QUIK 4=ISIN_NUMBER 5=RIC_CODE\n"
    "  6=ISO_CURRENCY_CODE 7=ISO_COUNTRY_CODE 8=EXCHANGE_SYMBOL 9=CONSOLIDATED_TAPE_ASSOCIATION\n"
    "  A=BLOOMBERG_SYMBOL B=WERTPAPIER C=DUTCH D=VALOREN E=SICOVAM F=BELGIAN G=COMMON\n"
    "  H=CLEARING_HOUSE\n"
    "29 LastCapacity CHAR~ 1=AGENT 2=CROSS_AS_AGENT 3=CROSS_AS_PRINCIPAL 4=PRINCIPAL\n"
    "30 LastMkt EXCHANGE\n"
    "31 LastPx PRICE\n"
    "32 LastShares QTY@-43\n"
    "32 LastQty QTY@+43\n"
    "34 MsgSeqNum SEQNUM\n"
    "35 MsgType STRING\n"
    "36 NewSeqNo SEQNUM\n"
    "37 OrderID STRING\n"
    "38 OrderQty QTY\n"
    "39 OrdStatus CHAR~ 0=NEW 1=PARTIALLY_FILLED 2=FILLED 3=DONE_FOR_DAY 4=CANCELED\n"
    "  5=REPLACED@-44 6=PENDING_CANCEL 7=STOPPED 8=REJECTED 9=SUSPENDED A=PENDING_NEW\n"
    "  B=CALCULATED C=EXPIRED D=ACCEPTED_FOR_BIDDING E=PENDING_REPLACE\n"
    "40 OrdType CHAR~ 1=MARKET 2=LIMIT 3=STOP 4=STOP_LIMIT 6=WITH_OR_WITHOUT\n"
    "  7=LIMIT_OR_BETTER 8=LIMIT_WITH_OR_WITHOUT 9=ON_BASIS D=PREVIOUSLY_QUOTED\n"
    "  E=PREVIOUSLY_INDICATED G=FOREX_SWAP I=FUNARI J=MARKET_IF_TOUCHED\n"
    "  K=MARKET_WITH_LEFT_OVER_AS_LIMIT P=PEGGED\n"
    "41 OrigClOrdID STRING\n"
    "43 PossDupFlag BOOLEAN N=NO Y=YES\n"
    "44 Price PRICE\n"
    "45 RefSeqNum SEQNUM\n"
    "48 SecurityID STRING\n"
    "49 SenderCompID STRING\n"
    "50 SenderSubID STRING\n"
    "52 SendingTime UTCTIMESTAMP\n"
    "54 Side CHAR~ 1=BUY 2=SELL 3=BUY_MINUS 4=SELL_PLUS 5=SELL_SHORT 6=SELL_SHORT_EXEMPT\n"
    "  7=UNDISCLOSED 8=CROSS 9=CROSS_SHORT A=CROSS_SHORT_EXEMPT B=AS_DEFINED C=OPPOSITE\n"
    "55 Symbol STRING\n"
    "56 TargetCompID STRING\n"
    "57 TargetSubID STRING\n"
    "58 Text STRING\n"
    "59 TimeInForce CHAR~ 0=DAY 1=GOOD_TILL_CANCEL 2=AT_THE_OPENING 3=IMMEDIATE_OR_CANCEL\n"
    "  4=FILL_OR_KILL 5=GOOD_TILL_CROSSING 6=GOOD_TILL_DATE 7=AT_THE_CLOSE\n"
    "60 TransactTime UTCTIMESTAMP\n"
    "63 SettlmntTyp CHAR~@-44 0=REGULAR 1=CASH 2=NEXT_DAY 3=T_PLUS2 4=T_PLUS3 5=T_PLUS4\n"
    "  6=FUTURE 7=WHEN_AND_IF_ISSUED 8=SELLERS_OPTION 9=T_PLUS5\n"
    "63 SettlType STRING~@+44 0=REGULAR 1=CASH 2=NEXT_DAY 3=T_PLUS2 4=T_PLUS3 5=T_PLUS4\n"
    "  6=FUTURE 7=WHEN_AND_IF_ISSUED 8=SELLERS_OPTION 9=T_PLUS5\n"
    "64 FutSettDate LOCALMKTDATE@-44\n"
    "64 SettlDate LOCALMKTDATE@+44\n"
    "65 SymbolSfx STRING\n"
    "66 ListID STRING\n"
    "75 TradeDate LOCALMKTDATE\n"
    "77 OpenClose CHAR~@-43 O=OPEN C=CLOSE\n"
    "77 PositionEffect CHAR~@+43 C=CLOSE F=FIFO O=OPEN R=ROLLED\n"
    "89 Signature DATA\n"
    "90 SecureDataLen LENGTH\n"
    "91 SecureData DATA\n"
    "93 SignatureLength LENGTH\n"
    "95 RawDataLength LENGTH\n"
    "96 RawData DATA\n"
    "97 PossResend BOOLEAN N=NO Y=YES\n"
    "98 EncryptMethod INT 0=NONE_OTHER 1=PKCS 2=DES 3=PKCSDES 4=PGPDES 5=PGPDESMD5\n"
    "  6=PEMDESMD5\n"
    "99 StopPx PRICE\n"
    "100 ExDestination EXCHANGE\n"
    "102 CxlRejReason INT~ 0=TOO_LATE_TO_CANCEL 1=UNKNOWN_ORDER 2=BROKER_CREDIT\n"
    "  3=ORDER_ALREADY_IN_PENDING_STATUS 6=DUPLICATE_CL_ORD_ID 99=OTHER\n"
    "103 OrdRejReason INT~ 0=BROKER_CREDIT 1=UNKNOWN_SYMBOL 2=EXCHANGE_CLOSED\n"
    "  3=ORDER_EXCEEDS_LIMIT 4=TOO_LATE_TO_ENTER 5=UNKNOWN_ORDER 6=DUPLICATE_ORDER\n"
    "  8=STALE_ORDER 11=UNSUPPORTED_ORDER_CHARACTERISTIC 13=INCORRECT_QUANTITY\n"
    "  15=UNKNOWN_ACCOUNT 99=OTHER\n"
    "107 SecurityDesc STRING\n"
    "108 HeartBtInt INT\n"
    "110 MinQty QTY\n"
    "111 MaxFloor QTY\n"
    "112 TestReqID STRING\n"
    "115 OnBehalfOfCompID STRING\n"
    "116 OnBehalfOfSubID STRING\n"
    "122 OrigSendingTime UTCTIMESTAMP\n"
    "123 GapFillFlag BOOLEAN N=NO Y=YES\n"
    "125 CxlType CHAR F=FULL_REMAINING_QUANTITY P=PARTIAL_CANCEL\n"
    "126 ExpireTime UTCTIMESTAMP\n"
    "128 DeliverToCompID STRING\n"
    "129 DeliverToSubID STRING\n"
    "141 ResetSeqNumFlag BOOLEAN N=NO Y=YES\n"
    "142 SenderLocationID STRING\n"
    "143 TargetLocationID STRING\n"
    "144 OnBehalfOfLocationID STRING\n"
    "145 DeliverToLocationID STRING\n"
    "146 NoRelatedSym NUMINGROUP\n"
    "150 ExecType CHAR~ 0=NEW 1=PARTIAL_FILL@-44 2=FILL@-44 3=DONE_FOR_DAY 4=CANCELED\n"
    "  5=REPLACED 6=PENDING_CANCEL 7=STOPPED 8=REJECTED 9=SUSPENDED A=PENDING_NEW\n"
    "  B=CALCULATED C=EXPIRED D=RESTATED E=PENDING_REPLACE F=TRADE G=TRADE_CORRECT\n"
    "  H=TRADE_CANCEL I=ORDER_STATUS\n"
    "151 LeavesQty QTY\n"
    "152 CashOrderQty QTY\n"
    "167 SecurityType STRING\n"
    "198 SecondaryOrderID STRING\n"
    "200 MaturityMonthYear MONTHYEAR\n"
    "201 PutOrCall INT 0=PUT 1=CALL\n"
    "202 StrikePrice PRICE\n"
    "207 SecurityExchange EXCHANGE\n"
    "212 XmlDataLen LENGTH\n"
    "213 XmlData DATA\n"
    "262 MDReqID STRING\n"
    "263 SubscriptionRequestType CHAR 0=SNAPSHOT 1=SNAPSHOT_AND_UPDATES\n"
    "  2=DISABLE_PREVIOUS_SNAPSHOT\n"
    "264 MarketDepth INT\n"
    "265 MDUpdateType INT 0=FULL_REFRESH 1=INCREMENTAL_REFRESH\n"
    "266 AggregatedBook BOOLEAN N=NO Y=YES\n"
    "267 NoMDEntryTypes NUMINGROUP\n"
    "268 NoMDEntries NUMINGROUP\n"
    "269 MDEntryType CHAR~ 0=BID 1=OFFER 2=TRADE 3=INDEX_VALUE 4=OPENING_PRICE\n"
    "  5=CLOSING_PRICE 6=SETTLEMENT_PRICE 7=TRADING_SESSION_HIGH_PRICE\n"
    "  8=TRADING_SESSION_LOW_PRICE 9=TRADING_SESSION_VWAP_PRICE A=IMBALANCE B=TRADE_VOLUME\n"
    "  C=OPEN_INTEREST\n"
    "270 MDEntryPx PRICE\n"
    "271 MDEntrySize QTY\n"
    "272 MDEntryDate UTCDATEONLY\n"
    "273 MDEntryTime UTCTIMEONLY\n"
    "274 TickDirection CHAR 0=PLUS_TICK 1=ZERO_PLUS_TICK 2=MINUS_TICK 3=ZERO_MINUS_TICK\n"
    "275 MDMkt EXCHANGE\n"
    "276 QuoteCondition MULTIPLEVALUESTRING\n"
    "277 TradeCondition MULTIPLEVALUESTRING\n"
    "278 MDEntryID STRING\n"
    "279 MDUpdateAction CHAR~ 0=NEW 1=CHANGE 2=DELETE\n"
    "280 MDEntryRefID STRING\n"
    "281 MDReqRejReason CHAR~ 0=UNKNOWN_SYMBOL 1=DUPLICATE_MD_REQ_ID 2=INSUFFICIENT_BANDWIDTH\n"
    "  3=INSUFFICIENT_PERMISSIONS 4=UNSUPPORTED_SUBSCRIPTION_REQUEST_TYPE\n"
    "  5=UNSUPPORTED_MARKET_DEPTH 6=UNSUPPORTED_MD_UPDATE_TYPE 7=UNSUPPORTED_AGGREGATED_BOOK\n"
    "  8=UNSUPPORTED_MD_ENTRY_TYPE\n"
    "282 MDEntryOriginator STRING\n"
    "283 LocationID STRING\n"
    "284 DeskID STRING\n"
    "285 DeleteReason CHAR 0=CANCELLATION 1=ERROR\n"
    "290 MDEntryPositionNo INT\n"
    "336 TradingSessionID STRING\n"
    "346 NumberOfOrders INT\n"
    "347 MessageEncoding STRING\n"
    "354 EncodedTextLen LENGTH\n"
    "355 EncodedText DATA\n"
    "369 LastMsgSeqNumProcessed SEQNUM\n"
    "370 OnBehalfOfSendingTime UTCTIMESTAMP\n"
    "371 RefTagID INT\n"
    "372 RefMsgType STRING\n"
    "373 SessionRejectReason INT 0=INVALID_TAG_NUMBER 1=REQUIRED_TAG_MISSING\n"
    "  2=TAG_NOT_DEFINED_FOR_THIS_MESSAGE_TYPE 3=UNDEFINED_TAG 4=TAG_SPECIFIED_WITHOUT_A_VALUE\n"
    "  5=VALUE_IS_INCORRECT 6=INCORRECT_DATA_FORMAT_FOR_VALUE 7=DECRYPTION_PROBLEM\n"
    "  8=SIGNATURE_PROBLEM 9=COMPID_PROBLEM 10=SENDINGTIME_ACCURACY_PROBLEM 11=INVALID_MSGTYPE\n"
    "  12=XML_VALIDATION_ERROR@+43 13=TAG_APPEARS_MORE_THAN_ONCE@+43\n"
    "  14=TAG_SPECIFIED_OUT_OF_REQUIRED_ORDER@+43 15=REPEATING_GROUP_FIELDS_OUT_OF_ORDER@+43\n"
    "  16=INCORRECT_NUMINGROUP_COUNT_FOR_REPEATING_GROUP@+43\n"
    "  17=NON_DATA_VALUE_INCLUDES_FIELD_DELIMITER@+43\n"
    "  18=INVALID_UNSUPPORTED_APPLICATION_VERSION@+50 99=OTHER@+44\n"
    "376 ComplianceID STRING\n"
    "378 ExecRestatementReason INT~ 0=GT_CORPORATE_ACTION 1=GT_RENEWAL 2=VERBAL_CHANGE\n"
    "  3=REPRICING_OF_ORDER 4=BROKER_OPTION 5=PARTIAL_DECLINE_OF_ORDER_QTY 99=OTHER\n"
    "379 BusinessRejectRefID STRING\n"
    "380 BusinessRejectReason INT~ 0=OTHER 1=UNKNOWN_ID 2=UNKNOWN_SECURITY\n"
    "  3=UNSUPPORTED_MESSAGE_TYPE 4=APPLICATION_NOT_AVAILABLE\n"
    "  5=CONDITIONALLY_REQUIRED_FIELD_MISSING 6=NOT_AUTHORIZED\n"
    "383 MaxMessageSize LENGTH\n"
    "384 NoMsgTypes NUMINGROUP\n"
    "385 MsgDirection CHAR R=RECEIVE S=SEND\n"
    "432 ExpireDate LOCALMKTDATE\n"
    "434 CxlRejResponseTo CHAR 1=ORDER_CANCEL_REQUEST 2=ORDER_CANCEL_REPLACE_REQUEST\n"
    "447 PartyIDSource CHAR~ B=BIC C=GENERAL_IDENTIFIER D=PROPRIETARY E=ISO_COUNTRY_CODE\n"
    "  F=SETTLEMENT_ENTITY_LOCATION G=MIC H=CSD_PARTICIPANT\n"
    "448 PartyID STRING\n"
    "452 PartyRole INT~ 1=EXECUTING_FIRM 2=BROKER_OF_CREDIT 3=CLIENT_ID 4=CLEARING_FIRM\n"
    "  5=INVESTOR_ID 6=INTRODUCING_FIRM 7=ENTERING_FIRM 8=LOCATE 9=FUND_MANAGER_CLIENT_ID\n"
    "  10=SETTLEMENT_LOCATION 11=ORDER_ORIGINATION_TRADER 12=EXECUTING_TRADER\n"
    "  13=ORDER_ORIGINATION_FIRM 14=GIVEUP_CLEARING_FIRM 16=EXECUTING_SYSTEM 17=CONTRA_FIRM\n"
    "  18=CONTRA_CLEARING_FIRM 21=CLEARING_ORGANIZATION 22=EXCHANGE 24=CUSTOMER_ACCOUNT\n"
    "453 NoPartyIDs NUMINGROUP\n"
    "454 NoSecurityAltID NUMINGROUP\n"
    "455 SecurityAltID STRING\n"
    "456 SecurityAltIDSource STRING\n"
    "460 Product INT~ 1=AGENCY 2=COMMODITY 3=CORPORATE 4=CURRENCY 5=EQUITY 6=GOVERNMENT\n"
    "  7=INDEX 8=LOAN 9=MONEYMARKET 10=MORTGAGE 11=MUNICIPAL 12=OTHER 13=FINANCING\n"
    "461 CFICode STRING\n"
    "464 TestMessageIndicator BOOLEAN N=NO Y=YES\n"
    "523 PartySubID STRING\n"
    "526 SecondaryClOrdID STRING\n"
    "527 SecondaryExecID STRING\n"
    "528 OrderCapacity CHAR~ A=AGENCY G=PROPRIETARY I=INDIVIDUAL P=PRINCIPAL\n"
    "  R=RISKLESS_PRINCIPAL W=AGENT_FOR_OTHER_MEMBER\n"
    "541 MaturityDate LOCALMKTDATE\n"
    "553 Username STRING\n"
    "554 Password STRING\n"
    "627 NoHops NUMINGROUP\n"
    "628 HopCompID STRING\n"
    "629 HopSendingTime UTCTIMESTAMP\n"
    "630 HopRefID SEQNUM\n"
    "789 NextExpectedMsgSeqNum SEQNUM\n"
    "802 NoPartySubIDs NUMINGROUP\n"
    "803 PartySubIDType INT~ 1=FIRM 2=PERSON 3=SYSTEM 4=APPLICATION\n"
    "851 LastLiquidityInd INT~ 1=ADDED_LIQUIDITY 2=REMOVED_LIQUIDITY 3=LIQUIDITY_ROUTED_OUT\n"
    "925 NewPassword STRING\n"
    "1128 ApplVerID STRING 0=FIX27 1=FIX30 2=FIX40 3=FIX41 4=FIX42 5=FIX43 6=FIX44 7=FIX50\n"
    "  8=FIX50_SP1 9=FIX50_SP2\n"
    "1129 CstmApplVerID STRING\n"
    "1130 RefApplVerID STRING\n"
    "1131 RefCstmApplVerID STRING\n"
    "1137 DefaultApplVerID STRING\n"
    "1156 ApplExtID INT\n"
    "1400 EncryptedPasswordMethod INT\n"
    "1401 EncryptedPasswordLen LENGTH\n"
    "1402 EncryptedPassword DATA\n"
    "1403 EncryptedNewPasswordLen LENGTH\n"
    "1404 EncryptedNewPassword DATA\n"
    "1406 RefApplExtID INT\n"
    "1407 DefaultApplExtID INT\n"
    "1408 DefaultCstmApplVerID STRING\n"
    "1409 SessionStatus INT~ 0=SESSION_ACTIVE 1=SESSION_PASSWORD_CHANGED\n"
    "  2=SESSION_PASSWORD_DUE_TO_EXPIRE 3=NEW_SESSION_PASSWORD_DOES_NOT_COMPLY_WITH_POLICY\n"
    "  4=SESSION_LOGOUT_COMPLETE 5=INVALID_USERNAME_OR_PASSWORD 6=ACCOUNT_LOCKED\n"
    "  7=LOGONS_ARE_NOT_ALLOWED_AT_THIS_TIME 8=PASSWORD_EXPIRED\n"
    "1410 DefaultVerIndicator BOOLEAN\n";

static const char builtin_layouts[] =
    "header: BeginString! BodyLength! MsgType! ApplVerID@+50 ApplExtID@+50 CstmApplVerID@+50\n"
    "  SenderCompID! TargetCompID! OnBehalfOfCompID DeliverToCompID SecureDataLen SecureData\n"
    "  MsgSeqNum! SenderSubID SenderLocationID@+41 TargetSubID TargetLocationID@+41\n"
    "  OnBehalfOfSubID OnBehalfOfLocationID@+41 DeliverToSubID DeliverToLocationID@+41\n"
    "  PossDupFlag PossResend SendingTime! OrigSendingTime XmlDataLen@+42 XmlData@+42\n"
    "  MessageEncoding@+42 LastMsgSeqNumProcessed@+42 OnBehalfOfSendingTime@+42-44\n"
    "  NoHops@+43 { HopCompID HopSendingTime HopRefID }\n"
    "trailer: SignatureLength Signature CheckSum!\n"
    "*Parties: NoPartyIDs { PartyID PartyIDSource PartyRole\n"
    "    NoPartySubIDs@+44 { PartySubID PartySubIDType } }\n"
    /* Why two Symbols: FIX.4.0-4.2 require Symbol wherever the instrument is required; from
     * FIX.4.3 on the Instrument component may identify it by SecurityID alone. */
    "*Instrument: Symbol!@-43 Symbol@+43 SymbolSfx SecurityID IDSource@-43 SecurityIDSource@+43\n"
    "  NoSecurityAltID@+43 { SecurityAltID SecurityAltIDSource } Product@+43 CFICode@+43\n"
    "  SecurityType MaturityMonthYear MaturityDate@+43 PutOrCall StrikePrice SecurityExchange\n"
    "  SecurityDesc\n"
    "0 Heartbeat admin: TestReqID\n"
    "1 TestRequest admin: TestReqID!\n"
    "2 ResendRequest admin: BeginSeqNo! EndSeqNo!\n"
    "3 Reject admin: RefSeqNum! RefTagID@+42 RefMsgType@+42 RefApplVerID@+50 RefApplExtID@+50\n"
    "  RefCstmApplVerID@+50 SessionRejectReason@+42 Text EncodedTextLen@+42 EncodedText@+42\n"
    "4 SequenceReset admin: GapFillFlag NewSeqNo!\n"
    "5 Logout admin: SessionStatus@+50 Text EncodedTextLen@+42 EncodedText@+42\n"
    "A Logon admin: EncryptMethod! HeartBtInt! RawDataLength RawData ResetSeqNumFlag@+41\n"
    "  NextExpectedMsgSeqNum@+44 MaxMessageSize@+42\n"
    "  NoMsgTypes@+42 { RefMsgType MsgDirection RefApplVerID@+50 RefApplExtID@+50\n"
    "    RefCstmApplVerID@+50 DefaultVerIndicator@+50 }\n"
    "  TestMessageIndicator@+43 Username@+43 Password@+43 NewPassword@+50\n"
    "  EncryptedPasswordMethod@+50 EncryptedPasswordLen@+50 EncryptedPassword@+50\n"
    "  EncryptedNewPasswordLen@+50 EncryptedNewPassword@+50 SessionStatus@+50\n"
    "  DefaultApplVerID!@+50 DefaultApplExtID@+50 DefaultCstmApplVerID@+50 Text@+50\n"
    "  EncodedTextLen@+50 EncodedText@+50\n"
    "j BusinessMessageReject app@+42: RefSeqNum RefMsgType! BusinessRejectRefID\n"
    "  BusinessRejectReason! Text EncodedTextLen EncodedText\n"
    "D NewOrderSingle app: ClOrdID! SecondaryClOrdID@+43 Account *Parties@+43\n"
    "  SettlmntTyp@-44 SettlType@+44 FutSettDate@-44 SettlDate@+44 HandlInst!@-44\n"
    "  HandlInst@+44 ExecInst MinQty MaxFloor ExDestination *Instrument! Side!\n"
    "  TransactTime!@+42 OrderQty!@-41 OrderQty@+41 CashOrderQty@+42 OrdType! Price StopPx\n"
    "  Currency ComplianceID@+42 TimeInForce ExpireDate@+42 ExpireTime@+42 Commission\n"
    "  CommType OpenClose@-43 PositionEffect@+43 OrderCapacity@+43 Text EncodedTextLen@+42\n"
    "  EncodedText@+42\n"
    "F OrderCancelRequest app: OrigClOrdID!@-50 OrigClOrdID@+50 OrderID ClOrdID!\n"
    "  SecondaryClOrdID@+43 Account *Parties@+43 *Instrument! Side! TransactTime!@+42\n"
    "  CxlType!@-41 OrderQty!@-41 OrderQty@+41 CashOrderQty@+42\n"
    "  ComplianceID@+42 Text EncodedTextLen@+42 EncodedText@+42\n"
    "G OrderCancelReplaceRequest app: OrderID OrigClOrdID!@-50 OrigClOrdID@+50 ClOrdID!\n"
    "  SecondaryClOrdID@+43 Account *Parties@+43 HandlInst!@-44 HandlInst@+44 ExecInst\n"
    "  MinQty MaxFloor ExDestination *Instrument! Side! TransactTime!@+42 OrderQty!@-41\n"
    "  OrderQty@+41 CashOrderQty@+42 OrdType! Price StopPx Currency ComplianceID@+42\n"
    "  TimeInForce ExpireDate@+42 ExpireTime@+42 OpenClose@-43 PositionEffect@+43\n"
    "  OrderCapacity@+43 Text EncodedTextLen@+42 EncodedText@+42\n"
    "H OrderStatusRequest app: OrderID ClOrdID!@-50 ClOrdID@+50 SecondaryClOrdID@+43\n"
    "  Account *Parties@+43 *Instrument! Side!\n"
    "8 ExecutionReport app: OrderID! SecondaryOrderID ClOrdID OrigClOrdID ExecID!\n"
    "  ExecRefID ExecTransType!@-43 ExecTransType@+43-44 ExecType!@+41 OrdStatus! OrdRejReason\n"
    "  ExecRestatementReason@+42 Account *Parties@+43 SettlmntTyp@-44 SettlType@+44\n"
    "  FutSettDate@-44 SettlDate@+44 *Instrument! Side! OrderQty!@-42 OrderQty@+42\n"
    "  CashOrderQty@+42 OrdType Price StopPx Currency TimeInForce ExpireDate@+42\n"
    "  ExpireTime@+42 ExecInst HandlInst LastShares!@-42 LastShares@+42-43 LastQty@+43\n"
    "  LastPx!@-42 LastPx@+42 LastMkt LastCapacity LeavesQty!@+41 CumQty! AvgPx!@-50\n"
    "  AvgPx@+50 TradeDate TransactTime Commission CommType OpenClose@-43\n"
    "  PositionEffect@+43 OrderCapacity@+43 LastLiquidityInd@+44 Text EncodedTextLen@+42\n"
    "  EncodedText@+42\n"
    "9 OrderCancelReject app: OrderID! SecondaryOrderID@+42 ClOrdID! OrigClOrdID!@+41-50\n"
    "  OrigClOrdID@+50 OrdStatus!@+41 Account TransactTime CxlRejResponseTo!@+42\n"
    "  CxlRejReason Text EncodedTextLen@+42 EncodedText@+42\n"
    "V MarketDataRequest app@+42: MDReqID! SubscriptionRequestType! MarketDepth!\n"
    "  MDUpdateType AggregatedBook NoMDEntryTypes! { MDEntryType! }\n"
    "  NoRelatedSym! { *Instrument! TradingSessionID }\n"
    "W MarketDataSnapshotFullRefresh app@+42: MDReqID *Instrument!\n"
    "  NoMDEntries! { MDEntryType! MDEntryPx!@-43 MDEntryPx@+43 Currency MDEntrySize\n"
    "    MDEntryDate MDEntryTime TickDirection MDMkt TradingSessionID QuoteCondition\n"
    "    TradeCondition MDEntryOriginator LocationID DeskID TimeInForce ExpireDate ExpireTime\n"
    "    MinQty ExecInst OrderID NumberOfOrders MDEntryPositionNo *Parties@+44 Text\n"
    "    EncodedTextLen EncodedText }\n"
    "X MarketDataIncrementalRefresh app@+42: MDReqID\n"
    "  NoMDEntries! { MDUpdateAction! DeleteReason MDEntryType MDEntryID MDEntryRefID\n"
    "    *Instrument MDEntryPx Currency MDEntrySize MDEntryDate MDEntryTime TickDirection MDMkt\n"
    "    TradingSessionID QuoteCondition TradeCondition MDEntryOriginator LocationID DeskID\n"
    "    TimeInForce ExpireDate ExpireTime MinQty ExecInst OrderID NumberOfOrders\n"
    "    MDEntryPositionNo *Parties@+44 Text EncodedTextLen EncodedText }\n"
    "Y MarketDataRequestReject app@+42: MDReqID! MDReqRejReason Text EncodedTextLen\n"
    "  EncodedText\n";

/* A cursor over one table. */
struct table {
    const char *p, *end;
    uint32_t line;
    struct dict_builder *b;
    int version;
};

/* Next whitespace-separated token on the current record. A record ends at a newline not
 * followed by a space; *more is cleared there. Returns the token length (0 at the end). */
static size_t next_token(struct table *t, const char **tok, int *more)
{
    for (;;) {
        while (t->p < t->end && *t->p == ' ')
            t->p++;
        if (t->p < t->end && *t->p == '\n') {
            t->p++;
            t->line++;
            if (t->p < t->end && *t->p == ' ')
                continue;   /* continuation line */
            *more = 0;
            return 0;
        }
        break;
    }
    if (t->p >= t->end) {
        *more = 0;
        return 0;
    }
    *tok = t->p;
    while (t->p < t->end && *t->p != ' ' && *t->p != '\n')
        t->p++;
    return (size_t)(t->p - *tok);
}

/* Splits a trailing "@+NN-NN" gate off a token; returns whether it admits t->version. */
static int gate(const struct table *t, const char *tok, size_t *n)
{
    const char *at = memchr(tok, '@', *n);
    if (!at)
        return 1;
    int lo = 0, hi = 1000, ok = 1;
    const char *p = at + 1, *end = tok + *n;
    while (p + 3 <= end && (p[0] == '+' || p[0] == '-')) {
        int v = (p[1] - '0') * 10 + (p[2] - '0');
        if (p[0] == '+')
            lo = v;
        else
            hi = v;
        p += 3;
    }
    if (p != end)
        ok = 0;   /* malformed gate: caught by the self-test, never admitted */
    *n = (size_t)(at - tok);
    return ok && t->version >= lo && t->version < hi;
}

static int table_error(struct table *t, const char *what, const char *tok, size_t n)
{
    return dict_builder_error(t->b, FL_EINVAL, t->line, "built-in table: %s '%.*s'", what, (int)n,
                              tok);
}

static int read_fields(struct table *t)
{
    while (t->p < t->end) {
        const char *tag_tok, *name, *type;
        int more = 1;
        size_t tn = next_token(t, &tag_tok, &more);
        size_t nn = more ? next_token(t, &name, &more) : 0;
        size_t yn = more ? next_token(t, &type, &more) : 0;
        if (!tn || !nn || !yn)
            return table_error(t, "short field line near", tag_tok, tn);
        uint32_t tag = 0;
        for (size_t i = 0; i < tn; i++)
            tag = tag * 10 + (uint32_t)(tag_tok[i] - '0');
        int on = gate(t, type, &yn);
        int open = yn > 0 && type[yn - 1] == '~';
        if (open)
            yn--;
        if (on) {
            int idx = dict_builder_field(t->b, tag, name, nn, type, yn, t->line);
            if (idx < 0)
                return idx;
            t->b->fields[idx].open_enums = (uint8_t)open;
        }
        while (more) {
            const char *e;
            size_t en = next_token(t, &e, &more);
            if (!en)
                break;
            int eon = gate(t, e, &en);
            const char *eq = memchr(e, '=', en);
            if (!eq)
                return table_error(t, "enum without '='", e, en);
            if (on && eon &&
                dict_builder_enum(t->b, e, (size_t)(eq - e), eq + 1, en - (size_t)(eq - e) - 1,
                                  t->line) != FL_OK)
                return t->b->rc;
        }
    }
    return FL_OK;
}

/* Reads items until the end of the record, or up to the closing brace inside a group. Items
 * are added only when `on` (their message, group and own gates admit the version). */
static int read_items(struct table *t, int32_t container, int32_t group, int in_group, int on,
                      int *more)
{
    while (*more) {
        const char *tok;
        size_t n = next_token(t, &tok, more);
        if (!n)
            break;
        if (n == 1 && tok[0] == '}')
            return in_group ? FL_OK : table_error(t, "unbalanced", tok, n);
        if (n == 1 && tok[0] == '{')
            return table_error(t, "'{' without a group name", tok, n);
        int item_on = gate(t, tok, &n) && on;
        enum dict_item_kind kind = DICT_ITEM_FIELD;
        if (tok[0] == '*') {
            kind = DICT_ITEM_COMPONENT;
            tok++;
            n--;
        }
        int required = n > 0 && tok[n - 1] == '!';
        if (required)
            n--;
        /* A group's name is followed by "{": peek at the next token. */
        const char *save = t->p;
        uint32_t save_line = t->line;
        int peek_more = *more;
        const char *nt;
        size_t nn = next_token(t, &nt, &peek_more);
        int is_group = nn == 1 && nt[0] == '{';
        if (!is_group) {
            t->p = save;
            t->line = save_line;
        }
        if (is_group)
            kind = DICT_ITEM_GROUP;
        int idx = -1;
        if (item_on) {
            idx = dict_builder_item(t->b, container, group, kind, tok, n, required, t->line);
            if (idx < 0)
                return idx;
        }
        if (is_group) {
            int rc = read_items(t, container, idx, 1, item_on, more);
            if (rc != FL_OK)
                return rc;
        }
    }
    return in_group ? table_error(t, "group not closed before", "end of record", 13) : FL_OK;
}

static int read_layouts(struct table *t)
{
    while (t->p < t->end) {
        const char *tok;
        int more = 1;
        size_t n = next_token(t, &tok, &more);
        if (!n)
            continue;
        int32_t container;
        int on = 1;
        if (n == 7 && memcmp(tok, "header:", 7) == 0) {
            container = DICT_HEADER;
        } else if (n == 8 && memcmp(tok, "trailer:", 8) == 0) {
            container = DICT_TRAILER;
        } else if (tok[0] == '*') {
            container = dict_builder_container(t->b, DICT_CONT_COMPONENT, tok + 1, n - 2, NULL,
                                               0, 0, t->line);
        } else {
            const char *name, *cat;
            size_t mn = more ? next_token(t, &name, &more) : 0;
            size_t cn = more ? next_token(t, &cat, &more) : 0;
            if (!mn || cn < 4 || cat[cn - 1] != ':')
                return table_error(t, "bad message line near", tok, n);
            cn--;
            on = gate(t, cat, &cn);
            int admin = cn == 5 && memcmp(cat, "admin", 5) == 0;
            container = -1;
            if (on) {
                container = dict_builder_container(t->b, DICT_CONT_MESSAGE, name, mn, tok, n,
                                                   admin, t->line);
                if (container >= 0)
                    t->b->conts[container].open = (uint8_t)!admin;
            }
        }
        if (on && container < 0)
            return t->b->rc;
        int rc = read_items(t, container, -1, 0, on, &more);
        if (rc != FL_OK)
            return rc;
    }
    return FL_OK;
}

int dict_builtin_build(const char *begin_string, struct fl_dict **out, char *errbuf,
                       size_t errlen)
{
    static const struct {
        const char *begin;
        int version;
    } versions[] = {
        {"FIX.4.0", 40}, {"FIX.4.1", 41}, {"FIX.4.2", 42},
        {"FIX.4.3", 43}, {"FIX.4.4", 44}, {"FIXT.1.1", 50},
    };
    *out = NULL;
    int version = 0;
    for (size_t i = 0; begin_string && i < sizeof versions / sizeof versions[0]; i++)
        if (strcmp(begin_string, versions[i].begin) == 0)
            version = versions[i].version;
    if (!version)
        return FL_EINVAL;

    struct dict_builder b;
    int rc = dict_builder_init(&b, "builtin", errbuf, errlen);
    if (rc == FL_OK)
        rc = version == 50 ? dict_builder_version(&b, 1, 1, 1, 0)
                           : dict_builder_version(&b, 0, 4, version - 40, 0);
    b.open_groups = 1;
    struct table t = {builtin_fields, builtin_fields + sizeof builtin_fields - 1, 1, &b, version};
    if (rc == FL_OK)
        rc = read_fields(&t);
    t.p = builtin_layouts;
    t.end = builtin_layouts + sizeof builtin_layouts - 1;
    t.line = 1;
    if (rc == FL_OK)
        rc = read_layouts(&t);
    if (rc == FL_OK)
        rc = dict_builder_finish(&b, out);
    dict_builder_discard(&b);
    return rc;
}

int fl_dict_builtin(const char *begin_string, struct fl_dict **out)
{
    return dict_builtin_build(begin_string, out, NULL, 0);
}
