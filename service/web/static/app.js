// paperrec's page script: like and dislike buttons without a page reload. Every button is a
// plain form that works without this script; here it is sent in the background, and on the
// suggestions page the re-ranked list the server answers with takes the old one's place.
"use strict";

(function () {
  function say(text) {
    var status = document.getElementById("status");
    if (!status) return;
    status.textContent = text;
    window.clearTimeout(say.timer);
    say.timer = window.setTimeout(function () { status.textContent = ""; }, 4000);
  }

  var VERB = { like: "Liked", dislike: "Disliked", unlike: "Like removed", undislike: "Dislike removed" };

  function setState(card, state) {
    card.classList.remove("liked", "disliked");
    if (state) card.classList.add(state + "d");
    card.querySelectorAll("form.fb").forEach(function (form) {
      var button = form.querySelector("button");
      var act = button.classList.contains("like") ? "like" : "dislike";
      var on = state === act;
      form.querySelector("input[name=action]").value = (on ? "un" : "") + act;
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.querySelector(".label").textContent = (act === "like" ? (on ? "Liked" : "Like") : (on ? "Disliked" : "Dislike"));
    });
  }

  function send(form) {
    var card = form.closest(".card, .paper");
    var action = form.querySelector("input[name=action]").value;
    var list = form.closest("#suggestions");
    var data = new FormData(form);
    if (!list) data.set("view", "");
    var buttons = card ? card.querySelectorAll("button") : [];
    // Where the card stood, so that keyboard focus stays at that place in the new list.
    var place = list && card ? Array.prototype.indexOf.call(list.children, card) : -1;
    buttons.forEach(function (b) { b.disabled = true; });
    if (card && list && (action === "like" || action === "dislike")) card.style.opacity = "0.4";
    // The form has a field named "action", which hides the form.action property.
    return fetch(form.getAttribute("action"), {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" }
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body.detail || response.statusText);
        return body;
      });
    }).then(function (body) {
      if (list && typeof body.html === "string") {
        list.innerHTML = body.html;
        var cards = list.querySelectorAll(".card");
        var there = cards[Math.min(Math.max(place, 0), cards.length - 1)];
        var link = there && there.querySelector(".title a");
        if (link) link.focus({ preventScroll: true });
      } else if (card) {
        setState(card, body.state);
      }
      say(VERB[action] + (list ? ": the list is re-ranked" : ""));
    }).catch(function (error) {
      if (card) card.style.opacity = "";
      say("Not saved: " + error.message);
    }).finally(function () {
      buttons.forEach(function (b) { b.disabled = false; });
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("fb")) return;
    if (!window.fetch || !window.FormData) return; // the plain form does the work
    event.preventDefault();
    send(form);
  });
})();
