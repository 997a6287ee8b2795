/* The sidebar's only script: register with WeCom's JS-SDK, find the open chat, send with one tap. */
(function () {
  "use strict";
  var data = document.body.dataset;
  var APIS = ["getContext", "getCurExternalChat", "getCurExternalContact", "sendChatMessage"];

  function post(path) {
    return fetch(path, { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": data.csrf } })
      .then(function (r) { return r.json().then(function (body) { body.status = r.status; return body; }); });
  }

  function signature(agent) {
    return function (url) {
      var query = "?agent=" + agent + "&url=" + encodeURIComponent(url);
      return fetch("/web/api/jssdk-signature" + query, { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error("signature " + r.status); } return r.json(); });
    };
  }

  function register() {
    // sendChatMessage and the chat lookups need the app's identity (agentConfig) besides the corp's.
    ww.register({
      corpId: data.corp,
      agentId: data.agent,
      jsApiList: APIS,
      getConfigSignature: signature(0),
      getAgentConfigSignature: signature(1)
    });
  }

  function say(text) {
    var status = document.getElementById("status");
    if (status) { status.textContent = text; }
  }

  function entry() {
    register();
    ww.getContext().then(function (context) {
      if (context.entry === "group_chat_tools") {
        return ww.getCurExternalChat().then(function (res) {
          location.replace("/web/sidebar/group/" + encodeURIComponent(res.chatId));
        });
      }
      if (context.entry === "single_chat_tools") {
        return ww.getCurExternalContact().then(function (res) {
          location.replace("/web/sidebar/contact/" + encodeURIComponent(res.userId));
        });
      }
      say("请在客户群或客户单聊的聊天工具栏中打开本页。");
    }).catch(function (err) { say("无法识别当前会话：" + (err && (err.errMsg || err.message) || err)); });
  }

  function send(button) {
    var item = button.closest(".item");
    var state = item.querySelector(".state");
    var base = "/web/api/group/" + encodeURIComponent(button.dataset.chat);
    button.disabled = true;
    state.textContent = "发送中…";
    post(base + "/claim/" + button.dataset.id).then(function (claimed) {
      if (!claimed.ok) { state.textContent = claimed.error || "无法发送"; item.classList.add("sent"); return null; }
      item.querySelector(".preview").textContent = claimed.text.content;
      return ww.sendChatMessage({ msgtype: "text", text: claimed.text }).then(function () {
        return post(base + "/delivered/" + button.dataset.id).then(function (done) {
          state.textContent = done.ok ? "已发送" : "已发送（记录失败）";
          item.classList.add("sent");
        });
      }, function () {
        return post(base + "/release/" + button.dataset.id).then(function () {
          state.textContent = "未发送";
          button.disabled = false;
        });
      });
    }).catch(function () { state.textContent = "网络错误，请重试"; button.disabled = false; });
  }

  function groupPage() {
    register();
    document.querySelectorAll("button.send").forEach(function (button) {
      button.addEventListener("click", function () { send(button); });
    });
  }

  function contactPage() {
    register();
    document.querySelectorAll("button.send-link").forEach(function (button) {
      button.addEventListener("click", function () {
        ww.sendChatMessage({ msgtype: "text", text: { content: button.dataset.text } });
      });
    });
  }

  window.groupbot = { entry: entry, groupPage: groupPage, contactPage: contactPage };
})();
