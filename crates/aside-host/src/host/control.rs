//! What a session's clients and its agent ask of a running host: follow-ups, cancels,
//! answers and modes (one handler for the control requests), the agent's permission requests
//! (the policy, else the user), turns begun, and a turn interrupted by a stop.

use super::*;

impl Host {
    /// A permission request from the agent: settled by the policy, or put to the user.
    pub(crate) fn on_permission(
        &mut self,
        life: &mut Life,
        tool_calls: &aside_protocol::conversation::ToolCalls,
        request: RequestPermissionRequest,
        responder: Responder<RequestPermissionResponse>,
    ) -> anyhow::Result<()> {
        // The request's tool call is an update: what it leaves out (the command
        // line, the diff) is in the tool call announced before. The user sees
        // the whole of it.
        let users = for_the_user(&request.tool_call);
        let asked = PermissionAsked {
            tool_call: tool_calls.whole(&request.tool_call),
            options: request.options,
        };
        let settled = if users {
            None
        } else {
            auto_answer(self.record.approve, &asked.tool_call, &asked.options)
        };
        if let Some(option) = settled {
            self.emit(Body::Permission(Box::new(PermissionAllowed {
                tool_call: asked.tool_call,
                options: asked.options,
                decision: Decision {
                    option_id: option.clone(),
                    by: format!("policy {}", self.record.approve),
                },
            })));
            let _ = responder.respond(selected(&option));
        } else {
            match life.ask((asked.clone(), responder)) {
                Asked::Refused((_, responder)) => {
                    let _ = responder.respond(cancelled_answer());
                }
                Asked::Waiting { .. } => {
                    self.emit(Body::PermissionRequest(Box::new(asked)));
                    self.index
                        .update(&self.record.id, Change::PendingPermission(true))?;
                    if self.record.status != Status::NeedsInput {
                        self.set_status(Status::NeedsInput, None);
                    }
                }
            }
        }
        Ok(())
    }

    /// Asks the agent for `model` through its model config option (its value when one matches
    /// by id or name; the name as given otherwise, for the agent to take or refuse).
    pub(crate) async fn choose_model(
        &mut self,
        cx: &ConnectionTo<Agent>,
        session_id: &str,
        options: &[SessionConfigOption],
        model: &str,
    ) -> anyhow::Result<()> {
        let (option, value, choices) =
            policy::model_option(options, model).map_err(|e| anyhow!("{e}"))?;
        cx.send_request(SetSessionConfigOptionRequest::new(
            session_id.to_string(),
            option,
            value.as_str(),
        ))
        .block_task()
        .await
        .map_err(|e| {
            anyhow!(
                "the agent `{}` refused model `{value}`: {e}. It offers: {choices}",
                self.record.agent
            )
        })?;
        Ok(())
    }

    /// A plan session works in the agent's own plan mode (read-only) when it has one (a mode
    /// named "plan"); otherwise its first prompt asks for a plan only.
    pub(crate) async fn enter_plan_mode(
        &mut self,
        cx: &ConnectionTo<Agent>,
        session_id: &str,
        modes: Option<SessionModeState>,
        life: &mut Life,
    ) {
        let plan = modes
            .as_ref()
            .and_then(|state| state.available_modes.iter().find(|m| is_plan_mode(m)));
        let set = match plan {
            Some(mode) => cx
                .send_request(SetSessionModeRequest::new(
                    session_id.to_string(),
                    mode.id.clone(),
                ))
                .block_task()
                .await
                .is_ok(),
            None => false,
        };
        if !set {
            if let Some(first) = life.first_queued() {
                first.text = format!("{PLAN_ONLY}\n\n{}", first.text);
            }
        }
    }

    /// Switches the agent's session mode: `plan` is the mode named plan, `code` the one the agent
    /// started in; else a mode id it offers.
    pub(crate) async fn set_mode(
        &mut self,
        cx: &ConnectionTo<Agent>,
        session_id: &str,
        wanted: &str,
    ) -> Result<Reply, String> {
        let program = self.record.agent_command.join(" ");
        let Some(state) = self.modes.clone() else {
            return Err(format!(
                "the agent `{program}` has no session modes to switch between"
            ));
        };
        let found = match wanted {
            "plan" => state.available_modes.iter().find(|m| is_plan_mode(m)),
            "code" => state
                .available_modes
                .iter()
                .find(|m| m.id == state.current_mode_id && !is_plan_mode(m))
                .or_else(|| state.available_modes.iter().find(|m| !is_plan_mode(m))),
            other => state.available_modes.iter().find(|m| &*m.id.0 == other),
        };
        let Some(mode) = found else {
            let offered: Vec<String> = state
                .available_modes
                .iter()
                .map(|m| m.id.0.to_string())
                .collect();
            return Err(format!(
                "the agent `{program}` has no {wanted} mode; it offers: {}",
                offered.join(", ")
            ));
        };
        cx.send_request(SetSessionModeRequest::new(
            session_id.to_string(),
            mode.id.clone(),
        ))
        .block_task()
        .await
        .map_err(|e| format!("the agent refused to switch to {}: {e}", mode.id.0))?;
        Ok(Reply::ok(Some(format!("now in {} mode", mode.name))))
    }

    /// Carries out a client's request on the session's lifecycle; Some(ending) when the host
    /// is to stop.
    pub(crate) async fn on_control(
        &mut self,
        cx: &ConnectionTo<Agent>,
        session_id: &str,
        life: &mut Life,
        control: Control,
    ) -> anyhow::Result<Option<Ending>> {
        let Control { request, reply } = control;
        let answer = match request {
            Request::Prompt { text, request } => {
                match life.prompt(text, request) {
                    // Sent again after a host died: already taken.
                    Accepted::AlreadyTaken => {}
                    Accepted::Queued(queued) => {
                        self.emit(Body::PromptQueued(Prompt {
                            text: queued.text,
                            resumed: false,
                            request: queued.request,
                        }));
                    }
                    // The turn starts (and the prompt is stored) before the answer,
                    // so whoever sent it never reads the previous turn's status and
                    // a host dying now cannot lose it.
                    Accepted::Start(next) => {
                        let turn = self.begin_turn(cx, session_id, next);
                        life.started(turn);
                    }
                }
                // Only what was stored was sent.
                self.fail_unrecorded();
                match &self.unrecorded {
                    Some(why) => Err(format!("not sent: {why}")),
                    None => Ok(Reply::ok(None)),
                }
            }
            Request::Cancel => {
                if let Some(cancelled) = life.cancel() {
                    let _ = cx.send_notification(CancelNotification::new(session_id.to_string()));
                    for (_, responder) in cancelled.unanswered {
                        let _ = responder.respond(cancelled_answer());
                    }
                    // Cancel means "stop working": queued follow-ups go too, and
                    // the user is told how many, here and in the history.
                    let dropped = cancelled.dropped;
                    self.emit(Body::CancelRequested {
                        dropped: dropped as u64,
                    });
                    Ok(Reply::ok((dropped > 0).then(|| {
                        format!(
                            "dropped {}; send {} again when you want {}",
                            plural(dropped, "queued follow-up"),
                            if dropped == 1 { "it" } else { "them" },
                            if dropped == 1 { "it" } else { "them" },
                        )
                    })))
                } else {
                    Err(format!(
                        "nothing to cancel: the session is {}",
                        self.record.status
                    ))
                }
            }
            Request::Answer { choice } => match life.take_pending() {
                None => Err("no permission request is waiting for an answer".to_string()),
                Some((asked, responder)) => match choose(&asked.options, choice) {
                    Some(option) => {
                        let _ = responder.respond(selected(&option));
                        self.emit(Body::PermissionAnswer(PermissionAnswer {
                            option_id: option.clone(),
                            choice,
                        }));
                        if !life.waiting_for_user() {
                            self.index
                                .update(&self.record.id, Change::PendingPermission(false))?;
                            self.set_status(Status::Running, None);
                        }
                        Ok(Reply::ok(None))
                    }
                    None => {
                        let msg = format!("the agent offered no option for {choice:?}");
                        life.put_back((asked, responder));
                        Err(msg)
                    }
                },
            },
            Request::Stop => {
                self.interrupt(cx, session_id, life, "stopped by `aside stop`")
                    .await;
                let _ = reply.send(Reply::ok(None));
                return Ok(Some(Ending::Stopped));
            }
            Request::SetMode { mode } => self.set_mode(cx, session_id, &mode).await,
            Request::Subscribe { .. } => Err("subscribe is served by the connection".into()),
        };
        let _ = reply.send(answer.unwrap_or_else(Reply::refused));
        Ok(None)
    }

    /// Stores the prompt, marks the session running and sends the prompt to the agent; the
    /// receiver gets the agent's answer when the turn ends.
    pub(crate) fn begin_turn(
        &mut self,
        cx: &ConnectionTo<Agent>,
        session_id: &str,
        next: Queued,
    ) -> oneshot::Receiver<Result<PromptResponse, agent_client_protocol::Error>> {
        // What the agent is sent: the prompt, after the conversation so far when the agent
        // started afresh (read before this prompt is stored). The log keeps the user's words.
        let sent = match self.seed.take() {
            Some(Seed::Handoff(handoff)) => handoff,
            Some(Seed::Conversation) => self
                .transcript(&next.text)
                .unwrap_or_else(|_| next.text.clone()),
            None => next.text.clone(),
        };
        self.emit(Body::Prompt(Prompt {
            text: next.text.clone(),
            resumed: next.resumed,
            request: next.request.clone(),
        }));
        if self.record.status != Status::Running {
            self.set_status(Status::Running, None);
        }
        let (tx, rx) = oneshot::channel();
        let request = PromptRequest::new(session_id.to_string(), vec![sent.into()]);
        let cx = cx.clone();
        tokio::spawn(async move {
            let _ = tx.send(cx.send_request(request).block_task().await);
        });
        rx
    }

    /// Ends the host's work now, losing nothing: a running turn is cancelled (ACP
    /// `session/cancel`; the agent gets a moment to wind down and save its session), pending
    /// permission requests are answered `cancelled`, the worktree is checkpointed and the session
    /// becomes `interrupted`, resumable. Queued follow-ups stay in the history as
    /// `prompt_queued`, so the next host takes them up. An idle session keeps its status.
    pub(crate) async fn interrupt(
        &mut self,
        cx: &ConnectionTo<Agent>,
        session_id: &str,
        life: &mut Life,
        why: &str,
    ) {
        if self
            .stop_turn(Some((cx, session_id)), life, why, false)
            .await
        {
            let reason = format!(
                "{why} mid-turn; `aside resume {}` continues it",
                self.record.id
            );
            self.set_status(Status::Interrupted, Some(&reason));
        }
    }

    /// Stops what runs: permission requests still open answered as cancelled; the turn, if one
    /// runs, cancelled and given a second to end (what it reported counted); then, when a turn
    /// ran or `even_idle`, the interruption recorded (`why`, with the follow-ups still queued)
    /// and the worktree checkpointed. Whether it recorded one.
    pub(crate) async fn stop_turn(
        &mut self,
        cx: Option<(&ConnectionTo<Agent>, &str)>,
        life: &mut Life,
        why: &str,
        even_idle: bool,
    ) -> bool {
        let (turn, unanswered, queued) = life.stop();
        for (_, responder) in unanswered {
            let _ = responder.respond(cancelled_answer());
        }
        if turn.is_none() && !even_idle {
            return false;
        }
        if let (Some(rx), Some((cx, session_id))) = (turn, cx) {
            let _ = cx.send_notification(CancelNotification::new(session_id.to_string()));
            let ended = tokio::time::timeout(Duration::from_secs(1), rx).await;
            self.ended_stopped(ended);
        }
        let _ = self
            .index
            .update(&self.record.id, Change::PendingPermission(false));
        self.emit(Body::Interrupted {
            reason: why.to_string(),
            queued: queued as u64,
        });
        self.checkpoint().await;
        true
    }
}
