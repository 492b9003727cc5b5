// The oobgate web console's only script (no inline script anywhere: the CSP forbids it).
// It reads what the page put in data- attributes and starts the player.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("player");
  if (!el || !window.AsciinemaPlayer) return;
  var player;
  if (el.dataset.live) {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + el.dataset.live;
    player = AsciinemaPlayer.create({ driver: "websocket", url: url, bufferTime: 0 }, el, {
      autoPlay: true,
      fit: "width",
    });
  } else if (el.dataset.cast) {
    var markers = [];
    try { markers = JSON.parse(el.dataset.markers || "[]"); } catch (e) { markers = []; }
    // Opened at a moment (a search hit, a timeline entry): that frame is shown, paused,
    // and playing goes on from there.
    var start = Number(el.dataset.start || 0);
    player = AsciinemaPlayer.create(el.dataset.cast, el, {
      startAt: start,
      poster: start > 0 ? "npt:" + start : undefined,
      preload: true,
      markers: markers,
      idleTimeLimit: 2,
      fit: "width",
    });
  }
  window.oobgatePlayer = player;
  document.querySelectorAll("a[data-seek]").forEach(function (a) {
    a.addEventListener("click", function (ev) {
      ev.preventDefault();
      if (player) player.seek(Number(a.dataset.seek));
    });
  });
});
