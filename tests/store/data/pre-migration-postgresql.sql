-- The postgresql tables as the store made them before migrations existed (metadata.create_all of
-- cds_hooks/store.py at commit 0e6d5f5), for tests/store/test_migrations.py. Do not edit.
CREATE TABLE jwt_replay (
	key VARCHAR(64) NOT NULL, 
	expires_at FLOAT NOT NULL, 
	PRIMARY KEY (key)
);

CREATE INDEX ix_jwt_replay_expires_at ON jwt_replay (expires_at);

CREATE TABLE audit_event (
	id SERIAL NOT NULL, 
	recorded_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	service_id VARCHAR(200), 
	hook_instance VARCHAR(64), 
	issuer VARCHAR(512), 
	tenant VARCHAR(256), 
	status INTEGER NOT NULL, 
	latency_ms FLOAT NOT NULL, 
	card_count INTEGER NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE feedback (
	id SERIAL NOT NULL, 
	dedup_key VARCHAR(64) NOT NULL, 
	received_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	service_id VARCHAR(200) NOT NULL, 
	issuer VARCHAR(512), 
	tenant VARCHAR(256), 
	card_uuid VARCHAR(64) NOT NULL, 
	outcome VARCHAR(16) NOT NULL, 
	outcome_timestamp TEXT NOT NULL, 
	accepted_suggestions TEXT, 
	override_system TEXT, 
	override_code TEXT, 
	override_display TEXT, 
	has_user_comment BOOLEAN NOT NULL, 
	user_comment TEXT, 
	hook_instance VARCHAR(64), 
	finding_ids TEXT, 
	engine_ids TEXT, 
	PRIMARY KEY (id), 
	UNIQUE (dedup_key)
);

CREATE INDEX ix_feedback_card_uuid ON feedback (card_uuid);

CREATE TABLE explainer_call (
	key VARCHAR(64) NOT NULL, 
	created_at FLOAT NOT NULL, 
	expires_at FLOAT NOT NULL, 
	service_id VARCHAR(200), 
	encoding VARCHAR(16) NOT NULL, 
	payload BYTEA NOT NULL, 
	PRIMARY KEY (key)
);

CREATE INDEX ix_explainer_call_expires_at ON explainer_call (expires_at);

CREATE TABLE issued_card (
	id SERIAL NOT NULL, 
	card_uuid VARCHAR(64) NOT NULL, 
	issued_at FLOAT NOT NULL, 
	service_id VARCHAR(200) NOT NULL, 
	issuer VARCHAR(512), 
	tenant VARCHAR(256), 
	hook_instance VARCHAR(64), 
	card_key VARCHAR(64) NOT NULL, 
	patient_key VARCHAR(64), 
	indicator VARCHAR(16) NOT NULL, 
	fingerprint VARCHAR(64) NOT NULL, 
	title VARCHAR(300), 
	finding_ids TEXT NOT NULL, 
	engine_ids TEXT NOT NULL, 
	suggestions TEXT NOT NULL, 
	override_codes TEXT NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_issued_card_card_uuid ON issued_card (card_uuid);

CREATE INDEX ix_issued_card_issued_at ON issued_card (issued_at);

CREATE TABLE card_suppression (
	key VARCHAR(64) NOT NULL, 
	card_key VARCHAR(64) NOT NULL, 
	patient_key VARCHAR(64) NOT NULL, 
	service_id VARCHAR(200) NOT NULL, 
	suggestion_key VARCHAR(64), 
	reason_code VARCHAR(64) NOT NULL, 
	reason_display VARCHAR(200), 
	fingerprint VARCHAR(64) NOT NULL, 
	title VARCHAR(300), 
	card_uuid VARCHAR(64) NOT NULL, 
	finding_ids TEXT NOT NULL, 
	created_at FLOAT NOT NULL, 
	until_at FLOAT, 
	lifted_at FLOAT, 
	lifted_because VARCHAR(32), 
	PRIMARY KEY (key)
);

CREATE INDEX ix_card_suppression_patient_key ON card_suppression (patient_key);

CREATE INDEX ix_card_suppression_card_key ON card_suppression (card_key);

CREATE TABLE order_alert (
	key VARCHAR(64) NOT NULL, 
	expires_at FLOAT NOT NULL, 
	PRIMARY KEY (key)
);

CREATE INDEX ix_order_alert_expires_at ON order_alert (expires_at);

CREATE TABLE audit_card (
	id SERIAL NOT NULL, 
	audit_id INTEGER NOT NULL, 
	card_uuid VARCHAR(64) NOT NULL, 
	service_id VARCHAR(200), 
	issuer VARCHAR(512), 
	finding_ids TEXT NOT NULL, 
	engine_ids TEXT NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(audit_id) REFERENCES audit_event (id)
);

CREATE INDEX ix_audit_card_card_uuid ON audit_card (card_uuid);
