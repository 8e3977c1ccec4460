"""What every page's templates share: hashtags as links, the locked-account banner."""

from __future__ import annotations

from markupsafe import escape
from quart import Quart

from gallery.infra.runtime import Runtime
from gallery.services.permissions import LOCKED_MESSAGE
from gallery.web.templating import hashtag_links
from tests.helpers import lock_account_row, page_html, signed_in
from tests.images import api_upload


async def test_descriptions_link_their_hashtags(app: Quart, runtime: Runtime) -> None:
    client, token = await signed_in(app, runtime)
    response = await api_upload(
        client, token, description='Dinner in #Tōkyō & <b>"#wine"</b> http://x/#top a#b'
    )
    image_id = (await response.get_json())["id"]
    linked = (
        '<a class="hashtag" href="/tags/t%C5%8Dky%C5%8D">#Tōkyō</a> &amp; &lt;b&gt;&#34;'
        '<a class="hashtag" href="/tags/wine">#wine</a>&#34;&lt;/b&gt; http://x/#top a#b'
    )
    home = await (await client.get("/")).get_data(as_text=True)
    assert f'<p class="photo-card-desc">Dinner in {linked}</p>' in home
    detail = await (await client.get(f"/images/{image_id}")).get_data(as_text=True)
    assert f'<p class="detail-desc">Dinner in {linked}</p>' in detail
    assert "<b>" not in detail


async def test_the_hashtag_filter_escapes_everything(app: Quart) -> None:
    async with app.test_request_context("/"):
        assert str(hashtag_links(None)) == ""
        assert str(hashtag_links("<i>no tags</i>")) == "&lt;i&gt;no tags&lt;/i&gt;"
        assert str(hashtag_links("#a<script>")) == (
            '<a class="hashtag" href="/tags/a">#a</a>&lt;script&gt;'
        )
        assert str(hashtag_links("x #東京")) == (
            'x <a class="hashtag" href="/tags/%E6%9D%B1%E4%BA%AC">#東京</a>'
        )


async def test_locked_users_see_a_banner_and_no_upload_link(app: Quart, runtime: Runtime) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    body = await page_html(alice, "/")
    assert "data-locked-banner" not in body and "nav-upload" in body
    assert 'href="/upload"' in await page_html(alice, "/u/alice")
    await lock_account_row(runtime, "alice", "spam")
    for path in ("/", "/u/alice", "/notifications"):
        body = await page_html(alice, path)
        assert "data-locked-banner" in body, path
        assert str(escape(LOCKED_MESSAGE)) in body
        assert "nav-upload" not in body
        banner = body.split("data-locked-banner")[1].split("</div>")[0]
        assert 'data-bs-dismiss="alert"' not in banner
    assert 'href="/upload"' not in await page_html(alice, "/u/alice")
